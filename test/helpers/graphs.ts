/** Subgraphs for tests that build control flow: If branches with one float output. */
import { node } from '../../src/compress/graph.ts';
import { valueInfo } from '../../src/devices/probe-models.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { AttributeType, type GraphProto, type NodeProto } from '../../src/onnx/proto.ts';

/** A graph of `nodes` without inputs of its own (it reads the graphs around it), with the float output `output`. */
export function subgraph(name: string, nodes: NodeProto[], output: string, dims: number[]): GraphProto {
  return {
    name,
    node: nodes,
    initializer: [],
    sparseInitializer: [],
    input: [],
    output: [valueInfo(output, DataType.FLOAT, dims)],
    valueInfo: [],
  };
}

/** An If node named `name` on `condition`, giving `output` from `thenBranch` or `elseBranch`. */
export function ifNode(
  name: string,
  condition: string,
  output: string,
  thenBranch: GraphProto,
  elseBranch: GraphProto,
): NodeProto {
  const choose = node('If', [condition], [output], { name });
  choose.attribute = [
    { name: 'then_branch', type: AttributeType.Graph, g: thenBranch },
    { name: 'else_branch', type: AttributeType.Graph, g: elseBranch },
  ] as NodeProto['attribute'];
  return choose;
}

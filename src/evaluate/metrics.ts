/** Quality metrics on logits: perplexity and next-token top-1, classifier accuracy, and agreement with a reference. */

export interface LanguageModelQuality {
  /** Mean negative log-likelihood in nats per predicted token. */
  nll: number;
  perplexity: number;
  /** Share of positions whose argmax is the next token. */
  top1: number;
  predictions: number;
}

function logSumExp(
  values: ArrayLike<number>,
  start: number,
  length: number,
): { lse: number; argmax: number } {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = 0;
  for (let i = 0; i < length; i++) {
    const v = values[start + i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(values[start + i]! - max);
  return { lse: max + Math.log(sum), argmax };
}

/**
 * Next-token quality: logits [B, L, V] for token rows [B][L]; position t predicts ids[t+1], so each row gives
 * L-1 predictions. Perplexity = exp(mean NLL).
 */
export function languageModelQuality(
  logits: ArrayLike<number>,
  dims: number[],
  rows: number[][],
): LanguageModelQuality {
  const [batch, length, vocab] = dims as [number, number, number];
  let nll = 0;
  let correct = 0;
  let predictions = 0;
  for (let b = 0; b < batch; b++) {
    const ids = rows[b]!;
    for (let t = 0; t + 1 < Math.min(length, ids.length); t++) {
      const start = (b * length + t) * vocab;
      const { lse, argmax } = logSumExp(logits, start, vocab);
      const target = ids[t + 1]!;
      nll += lse - logits[start + target]!;
      if (argmax === target) correct += 1;
      predictions += 1;
    }
  }
  const mean = nll / predictions;
  return { nll: mean, perplexity: Math.exp(mean), top1: correct / predictions, predictions };
}

/** The quality of several evaluations together, each weighted by its predictions. */
export function pooledLanguageModelQuality(parts: LanguageModelQuality[]): LanguageModelQuality {
  const predictions = parts.reduce((n, p) => n + p.predictions, 0);
  const nll = parts.reduce((sum, p) => sum + p.nll * p.predictions, 0) / predictions;
  const top1 = parts.reduce((sum, p) => sum + p.top1 * p.predictions, 0) / predictions;
  return { nll, perplexity: Math.exp(nll), top1, predictions };
}

/** Share of rows of logits [N, C] whose argmax equals the label. */
export function classifierAccuracy(
  logits: ArrayLike<number>,
  classes: number,
  labels: number[],
): { accuracy: number; errors: number } {
  let errors = 0;
  labels.forEach((label, i) => {
    if (logSumExp(logits, i * classes, classes).argmax !== label) errors += 1;
  });
  return { accuracy: 1 - errors / labels.length, errors };
}

export interface Agreement {
  /** Share of rows (last axis) whose argmax is the same. */
  top1Agreement: number;
  maxAbsDiff: number;
  /** Cosine similarity of the whole tensors. */
  cosine: number;
  /** Mean KL(reference ‖ candidate) of the softmax over the last axis, in nats. */
  klDivergence: number;
}

/** How closely `candidate` follows `reference` (same shape; rows are the last axis of length `width`). */
export function agreement(
  reference: ArrayLike<number>,
  candidate: ArrayLike<number>,
  width: number,
): Agreement {
  const rows = Math.floor(reference.length / width);
  let same = 0;
  let maxAbs = 0;
  let dot = 0;
  let nr = 0;
  let nc = 0;
  let kl = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const c = candidate[i]!;
    const d = Math.abs(r - c);
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    dot += r * c;
    nr += r * r;
    nc += c * c;
  }
  for (let row = 0; row < rows; row++) {
    const start = row * width;
    const ref = logSumExp(reference, start, width);
    const cand = logSumExp(candidate, start, width);
    if (ref.argmax === cand.argmax) same += 1;
    let k = 0;
    for (let i = 0; i < width; i++) {
      const lp = reference[start + i]! - ref.lse;
      const lq = candidate[start + i]! - cand.lse;
      k += Math.exp(lp) * (lp - lq);
    }
    kl += k;
  }
  const denominator = Math.sqrt(nr) * Math.sqrt(nc);
  return {
    top1Agreement: rows ? same / rows : 1,
    maxAbsDiff: maxAbs,
    cosine: denominator === 0 ? (nr === nc ? 1 : 0) : dot / denominator,
    klDivergence: rows ? kl / rows : 0,
  };
}

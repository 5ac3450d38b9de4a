// The heavy part of a softmax-regression fit, run by ONNX Runtime in float64: per evaluation the
// logits U Aᵀ + c, the mean cross-entropy's pieces and the gradient Rᵀ U; once per fit the Gram
// matrix Uᵀ U (the whitening preconditioner). Two passes over the features are all an
// objective evaluation costs, and JS (no SIMD, one thread) runs them 4-8x slower than ORT's GEMM,
// which also uses every core, as numpy's BLAS does for scikit-learn. The L-BFGS logic stays in JS.
//
// The graphs are built in memory with src/onnx and loaded once per process; shapes are dynamic.

import * as ort from 'onnxruntime-node';
import { graph, int64Tensor, model, node, valueInfo } from '../../onnx/build.js';
import { DType } from '../../onnx/schema.js';

const F64 = DType.DOUBLE;

/** ce = -sum_i log softmax(z_i)[y_i], G = Rᵀ U with R = softmax(Z) - Y, rs = column sums of R. */
function objectiveGraph(): Uint8Array {
  const g = graph({
    name: 'softmax_regression_objective',
    nodes: [
      node({ op: 'Gemm', inputs: ['U', 'A', 'c'], outputs: ['Z'], attrs: { transB: 1 } }),
      node({ op: 'LogSoftmax', inputs: ['Z'], outputs: ['logP'], attrs: { axis: 1 } }),
      node({ op: 'Exp', inputs: ['logP'], outputs: ['P'] }),
      node({ op: 'Sub', inputs: ['P', 'Y'], outputs: ['R'] }),
      node({ op: 'Mul', inputs: ['logP', 'Y'], outputs: ['logPy'] }),
      node({ op: 'ReduceSum', inputs: ['logPy'], outputs: ['logLik'], attrs: { keepdims: 0 } }),
      node({ op: 'Neg', inputs: ['logLik'], outputs: ['ce'] }),
      node({ op: 'Gemm', inputs: ['R', 'U'], outputs: ['G'], attrs: { transA: 1 } }),
      node({ op: 'ReduceSum', inputs: ['R', 'axis0'], outputs: ['rs'], attrs: { keepdims: 0 } }),
    ],
    inputs: [valueInfo('U', F64, ['n', 'h']), valueInfo('Y', F64, ['n', 'k']), valueInfo('A', F64, ['k', 'h']), valueInfo('c', F64, ['k'])],
    outputs: [valueInfo('ce', F64, []), valueInfo('G', F64, ['k', 'h']), valueInfo('rs', F64, ['k'])],
    initializers: [int64Tensor('axis0', [1], [0])],
  });
  return model(g, [{ domain: '', version: 13 }]).finish();
}

function gramGraph(): Uint8Array {
  const g = graph({
    name: 'gram',
    nodes: [node({ op: 'Gemm', inputs: ['U', 'U'], outputs: ['S'], attrs: { transA: 1 } })],
    inputs: [valueInfo('U', F64, ['n', 'h'])],
    outputs: [valueInfo('S', F64, ['h', 'h'])],
  });
  return model(g, [{ domain: '', version: 13 }]).finish();
}

let sessions: Promise<{ objective: ort.InferenceSession; gram: ort.InferenceSession }> | null = null;

function loadSessions() {
  sessions ??= (async () => {
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
    const [objective, gram] = await Promise.all([
      ort.InferenceSession.create(objectiveGraph(), options),
      ort.InferenceSession.create(gramGraph(), options),
    ]);
    return { objective, gram };
  })();
  return sessions;
}

export interface ObjectivePieces {
  /** Sum over rows of the cross-entropy. */
  ce: number;
  /** Rᵀ U, [K, H]. */
  gradient: Float64Array;
  /** Column sums of R, [K]. */
  residualSum: Float64Array;
}

/** The features U [n, H] and one-hot labels of one fit, held as ORT tensors for every evaluation. */
export class SoftmaxKernel {
  private constructor(
    private readonly s: { objective: ort.InferenceSession; gram: ort.InferenceSession },
    private readonly U: ort.Tensor,
    private readonly Y: ort.Tensor,
    readonly n: number,
    readonly H: number,
    readonly K: number,
  ) {}

  /** `U` is [n, H] row-major, `labels[i]` in 0..K-1. */
  static async create(U: Float64Array, labels: Int32Array, K: number): Promise<SoftmaxKernel> {
    const n = labels.length;
    const H = U.length / n;
    const Y = new Float64Array(n * K);
    for (let i = 0; i < n; i++) Y[i * K + labels[i]!] = 1;
    return new SoftmaxKernel(await loadSessions(), new ort.Tensor('float64', U, [n, H]), new ort.Tensor('float64', Y, [n, K]), n, H, K);
  }

  /** The pieces of the objective at weights A [K, H] and biases c [K]. */
  async evaluate(A: Float64Array, c: Float64Array): Promise<ObjectivePieces> {
    const out = await this.s.objective.run({
      U: this.U,
      Y: this.Y,
      A: new ort.Tensor('float64', A, [this.K, this.H]),
      c: new ort.Tensor('float64', c, [this.K]),
    });
    return {
      ce: (out.ce!.data as Float64Array)[0]!,
      gradient: out.G!.data as Float64Array,
      residualSum: out.rs!.data as Float64Array,
    };
  }

  /** Uᵀ U, [H, H]. */
  async gram(): Promise<Float64Array> {
    const out = await this.s.gram.run({ U: this.U });
    return out.S!.data as Float64Array;
  }
}

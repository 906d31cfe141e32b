import { describe, expect, it } from 'vitest';
import { classifyExit } from '../../../src/supervisor/classify.js';

describe('failure classification', () => {
  it.each([
    ["start: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080", 1, 'port-in-use'],
    ['error: invalid argument: --flash-attn-typo', 1, 'bad-argument'],
    ['error while handling argument "--ctx-size": stoi', 1, 'bad-argument'],
    ['llama_model_load: error loading model: llama_model_loader: failed to load model from /m.gguf', 1, 'model-load-failed'],
    ["gguf_init_from_file: failed to open GGUF file '/m.gguf'", 1, 'model-load-failed'],
    ['ggml_backend_cuda_buffer_type_alloc_buffer: allocating 24576.00 MiB on device 0: cudaMalloc failed: out of memory\nllama_model_load: error loading model: unable to allocate CUDA0 buffer', 1, 'out-of-memory'],
    ['CUDA error: out of memory', null, 'out-of-memory'],
    ['llama-server: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory', 127, 'missing-library'],
    ['segfault somewhere', 139, 'crashed'],
  ] as const)('%s → %s', (text, code, cls) => {
    expect(classifyExit({ code, signal: code === null ? 'SIGABRT' : null }, text.split('\n'))).toBe(cls);
  });

  it('a signal without a known message is killed; exit 0 and SIGTERM are no failure; 127 without output means the executable is missing', () => {
    expect(classifyExit({ code: null, signal: 'SIGKILL' }, ['loading'])).toBe('killed');
    expect(classifyExit({ code: 0, signal: null }, [])).toBeNull();
    // llama-server killed by SIGTERM while loading (no handler yet), or exiting 143: a clean stop.
    expect(classifyExit({ code: null, signal: 'SIGTERM' }, ['llama_model_load: loading tensors'])).toBeNull();
    expect(classifyExit({ code: 143, signal: null }, [])).toBeNull();
    // Earlier failure text does not turn a clean stop into a failure.
    expect(classifyExit({ code: 0, signal: null }, ['CUDA error: out of memory', 'srv  operator(): cleaning up before exit...'])).toBeNull();
    expect(classifyExit({ code: null, signal: 'SIGTERM' }, ['ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8.00 MiB on device 0: cudaMalloc failed: out of memory'])).toBeNull();
    expect(classifyExit({ code: 127, signal: null }, [])).toBe('missing-library');
    expect(classifyExit({ code: 2, signal: null }, [])).toBe('crashed');
  });
});

// Streaming SHA-256 of a File, in a worker (hash-worker.js). Resolves to {hex, size, ms, engine,
// fallback}: `engine` is "WebAssembly" or "JavaScript", `fallback` why WebAssembly was not used.
// `options` (read, slice, engine) are for the benchmark; the page passes none.
export function hashFile(file, onProgress, options = {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      if (data.progress !== undefined) onProgress?.(data.progress, file.size);
      else {
        worker.terminate();
        if (data.error) reject(new Error(data.error));
        else resolve({ hex: data.done, size: data.size, ms: data.ms, engine: data.engine, fallback: data.fallback });
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`hashing failed: ${e.message}`));
    };
    worker.postMessage({ file, ...options });
  });
}

// Streaming SHA-256 of a File, in a worker (hash-worker.js). Resolves to {hex, size, ms}.
export function hashFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      if (data.progress !== undefined) onProgress?.(data.progress, file.size);
      else {
        worker.terminate();
        if (data.error) reject(new Error(data.error));
        else resolve({ hex: data.done, size: data.size, ms: data.ms });
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`hashing failed: ${e.message}`));
    };
    worker.postMessage({ file });
  });
}

//! What every subcommand's `--json` summary reports about the resources its process used: peak
//! memory and the message traffic between workers.

use serde_json::{json, Value};
use strads_engine::ProcessFigures;

/// Adds `peak_memory_mib` (this process's peak resident memory, `VmHWM`), `bytes_sent` (message
/// bytes this process's workers sent to other workers) and `bytes_sent_per_worker_iteration`
/// (that, per local worker and per `iterations`, the app's unit: an iteration, a round) to the
/// JSON object `summary`. In a cluster of processes these are process 0's own figures.
pub fn add_resources(summary: &mut Value, local_workers: usize, iterations: f64) {
    let bytes = strads_engine::bytes_sent();
    let per_iteration =
        (iterations > 0.0).then(|| bytes as f64 / local_workers.max(1) as f64 / iterations);
    if let Some(object) = summary.as_object_mut() {
        object.insert(
            "peak_memory_mib".into(),
            json!(strads_io::peak_resident_bytes().map(|b| b as f64 / 1048576.0)),
        );
        object.insert("bytes_sent".into(), json!(bytes));
        object.insert(
            "bytes_sent_per_worker_iteration".into(),
            json!(per_iteration),
        );
    }
}

/// Adds each process's own figures, gathered at the end of the run (process 0 first), to the
/// JSON object `summary`: `peak_memory_mib_per_process` (its peak resident memory, `VmHWM`),
/// `bytes_read_per_process` (bytes of the input it read) and `<held>_per_process` (what it holds
/// of the data, in the app's unit, e.g. `held = "tokens_held"`).
pub fn add_process_figures(summary: &mut Value, processes: &[ProcessFigures], held: &str) {
    if let Some(object) = summary.as_object_mut() {
        let column = |f: &dyn Fn(&ProcessFigures) -> Value| -> Value {
            processes.iter().map(f).collect::<Vec<_>>().into()
        };
        object.insert(
            "peak_memory_mib_per_process".into(),
            column(&|p| json!(p.peak_memory_bytes.map(|b| b as f64 / 1048576.0))),
        );
        object.insert(
            "bytes_read_per_process".into(),
            column(&|p| json!(p.bytes_read)),
        );
        object.insert(format!("{held}_per_process"), column(&|p| json!(p.held)));
    }
}

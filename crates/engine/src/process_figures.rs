//! What each process of a cluster read, held and used, gathered on worker 0 for the apps'
//! summaries (issue 17: memory as a measured figure).

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::mailbox::Worker;

/// One worker's figures, or, once gathered, one process's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// Bytes of the input files read (the owned lines of its byte ranges).
    pub bytes_read: u64,
    /// What it holds of the data, in the app's unit (ratings, nonzeros, tokens, rows, words).
    pub held: u64,
    /// Its peak resident memory (`VmHWM`), if the system reports it.
    pub peak_memory_bytes: Option<u64>,
}

impl Worker<'_> {
    /// Gathers every worker's `mine` on worker 0 and sums them per process (peak memory: the
    /// largest, as the workers of a process share it), process 0 first; `None` on the other
    /// workers. A collective: every worker calls it.
    pub fn gather_process_figures(
        &mut self,
        mine: &ProcessFigures,
    ) -> Result<Option<Vec<ProcessFigures>>, EngineError> {
        let every_worker: Vec<ProcessFigures> = self.all_gather(mine)?;
        if !self.is_leader() {
            return Ok(None);
        }
        Ok(Some(
            every_worker
                .chunks(self.workers_per_process())
                .map(|workers| ProcessFigures {
                    bytes_read: workers.iter().map(|w| w.bytes_read).sum(),
                    held: workers.iter().map(|w| w.held).sum(),
                    peak_memory_bytes: workers.iter().filter_map(|w| w.peak_memory_bytes).max(),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::ProcessFigures;
    use crate::{run_cluster, ClusterConfig};

    #[test]
    fn one_process_sums_its_workers_and_keeps_the_largest_peak() {
        let results = run_cluster(&ClusterConfig::threads(3), |worker| {
            let p = worker.index() as u64;
            worker
                .gather_process_figures(&ProcessFigures {
                    bytes_read: 10 + p,
                    held: 100 * p,
                    peak_memory_bytes: (p != 1).then_some(7 * p),
                })
                .unwrap()
        })
        .unwrap();
        let expected = ProcessFigures {
            bytes_read: 33,
            held: 300,
            peak_memory_bytes: Some(14),
        };
        assert_eq!(results[0], Some(vec![expected]));
        assert_eq!(results[1..], [None, None]);
    }
}

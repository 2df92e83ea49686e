//! The overload table (issue #19): per offered load ρ and dispatcher, the
//! share of clients refused with 503, the response times of the jobs that
//! were admitted, and the queue over the run, bounded or growing. Medians
//! over the repeated runs (`--runs`) of each row.

use std::fmt::Write as _;

use super::Cell;
use super::rig::{Run, TIMELINE};

/// Prints the table for every run of `results`, one row per (ρ, cell,
/// dispatcher) in order of first appearance.
pub fn render(results: &[(Cell, Vec<Run>)]) -> String {
    let mut rows: Vec<(f64, Cell, String, Vec<&Run>)> = Vec::new();
    for (cell, runs) in results {
        for run in runs {
            let label = run.dispatcher.label();
            let key = |(load, c, l, _): &&mut (f64, Cell, String, Vec<&Run>)| {
                *load == run.load && c == cell && *l == label
            };
            match rows.iter_mut().find(|row| key(row)) {
                Some((_, _, _, group)) => group.push(run),
                None => rows.push((run.load, *cell, label, vec![run])),
            }
        }
    }
    let mut out = format!(
        "\n**Overload** — medians over runs: requests refused (503, not jobs), \
         the admitted jobs' response times, and the mean jobs per node in each \
         {TIMELINE}th of the run (flat: bounded; rising: growing)\n\n\
         | ρ | cell | signpost | runs | run s | admitted jobs | refused | 1 − 1/ρ | \
         admitted mean ms (min–max) | admitted p99 ms | jobs per node, by {TIMELINE}th of the run |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (load, cell, label, runs) in &rows {
        let of = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(|r| f(r)).collect());
        let means: Vec<f64> = runs.iter().map(|r| r.dispatched.mean_ms).collect();
        let lowest = means.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let queue: Vec<String> = (0..TIMELINE)
            .map(|i| {
                format!(
                    "{:.1}",
                    of(&|r| r.admission.queue.get(i).copied().unwrap_or(0.0))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {load} | T = {} s, {} | `{label}` | {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.0} ({:.0}–{:.0}) | {:.0} | {} |",
            cell.period,
            cell.label(),
            runs.len(),
            of(&|r| r.admission.seconds),
            of(&|r| r.dispatched.jobs as f64),
            of(&|r| r.admission.refused_share),
            ideal_share(*load),
            of(&|r| r.dispatched.mean_ms),
            lowest,
            highest,
            of(&|r| r.dispatched.p99_ms),
            queue.join(" → "),
        );
    }
    out
}

/// The share of clients to refuse at offered load `load` so that what is
/// admitted is exactly the capacity.
pub fn ideal_share(load: f64) -> f64 {
    if load > 1.0 { 1.0 - 1.0 / load } else { 0.0 }
}

/// The median of `values` (the mean of the middle two when even); 0 when
/// empty.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() % 2 {
        0 => (values[mid - 1] + values[mid]) / 2.0,
        _ => values[mid],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_the_ideal_share() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
        assert_eq!(ideal_share(0.9), 0.0);
        assert!((ideal_share(1.25) - 0.2).abs() < 1e-12);
    }
}

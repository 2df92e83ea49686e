//! The testbed's tables, in Markdown, shaped like BALANCE.md's: one table
//! per (refresh regime, speed mix), a row per strategy, a column per
//! refresh period T; then how well the rig kept time in every run.

use std::fmt::Write as _;

use super::reference::Reference;
use super::rig::Run;
use super::world::Stats;
use super::{Cell, Plan};

/// One figure of a table cell, averaged over the runs that measured it.
#[derive(Debug, Clone, Copy, Default)]
struct Figure {
    mean_ms: f64,
    p99_ms: f64,
    /// Mean response time over the same run's round robin.
    to_round_robin: f64,
    /// Mean response time over the same run's oracle projection.
    to_projection: f64,
}

/// Prints every table for the `results` of a grid run under `plan`.
pub fn render(plan: &Plan, results: &[(Cell, Vec<Run>)]) -> String {
    let mut out = String::new();
    let mut groups: Vec<(Cell, Vec<f64>)> = Vec::new();
    for (cell, _) in results {
        let key = Cell {
            period: 0.0,
            ..*cell
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, periods)) if !periods.contains(&cell.period) => periods.push(cell.period),
            Some(_) => {}
            None => groups.push((key, vec![cell.period])),
        }
    }
    for (key, periods) in &groups {
        let _ = writeln!(
            out,
            "\n**{}** — mean / p99 response ms (× round robin, × oracle projection)\n",
            key.label()
        );
        let _ = write!(out, "| strategy |");
        for &period in periods {
            let _ = write!(
                out,
                " T = {period} s ({:.1} S) |",
                period / plan.mean_service
            );
        }
        let _ = write!(out, "\n|---|{}\n", "---|".repeat(periods.len()));
        for row in rows(results) {
            let _ = write!(out, "| {} |", row.label());
            for &period in periods {
                let runs = results
                    .iter()
                    .find(|(c, _)| *c == Cell { period, ..*key })
                    .map_or(&[][..], |(_, runs)| runs);
                let _ = write!(out, " {} |", cell_text(row.figure(runs)));
            }
            out.push('\n');
        }
    }
    out.push_str(&rig_table(results));
    out
}

/// A table row: a reference strategy, or a dispatcher strategy.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    Reference(Reference),
    Signpost(String),
}

/// The rows of the tables: every reference, then every dispatcher
/// strategy run, in order of first appearance.
fn rows(results: &[(Cell, Vec<Run>)]) -> Vec<Row> {
    let mut rows: Vec<Row> = Reference::ALL.iter().map(|&r| Row::Reference(r)).collect();
    for run in results.iter().flat_map(|(_, runs)| runs) {
        let row = Row::Signpost(run.dispatcher.label());
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    rows
}

// === impl Row ===

impl Row {
    fn label(&self) -> String {
        match self {
            Row::Reference(r) => r.label().to_owned(),
            Row::Signpost(strategy) => format!("**signpost `{strategy}`**"),
        }
    }

    /// This row's figure in a cell measured by `runs`: a reference row is
    /// averaged over every run of the cell, a signpost row is its own run.
    fn figure(&self, runs: &[Run]) -> Option<Figure> {
        let per_run: Vec<Figure> = runs
            .iter()
            .filter_map(|run| {
                let stats = match self {
                    Row::Reference(r) => reference(run, *r)?,
                    Row::Signpost(s) if *s == run.dispatcher.label() => run.dispatched,
                    Row::Signpost(_) => return None,
                };
                let anchor = |r| reference(run, r).map_or(f64::NAN, |s| stats.mean_ms / s.mean_ms);
                Some(Figure {
                    mean_ms: stats.mean_ms,
                    p99_ms: stats.p99_ms,
                    to_round_robin: anchor(Reference::RoundRobin),
                    to_projection: anchor(Reference::P2cProjected),
                })
            })
            .collect();
        if per_run.is_empty() {
            return None;
        }
        let n = per_run.len() as f64;
        let avg = |f: fn(&Figure) -> f64| per_run.iter().map(f).sum::<f64>() / n;
        Some(Figure {
            mean_ms: avg(|f| f.mean_ms),
            p99_ms: avg(|f| f.p99_ms),
            to_round_robin: avg(|f| f.to_round_robin),
            to_projection: avg(|f| f.to_projection),
        })
    }
}

fn reference(run: &Run, kind: Reference) -> Option<Stats> {
    run.references
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| *s)
}

fn cell_text(figure: Option<Figure>) -> String {
    figure.map_or_else(
        || "–".to_owned(),
        |f| {
            format!(
                "{:.0} / {:.0} (×{:.2}, ×{:.2})",
                f.mean_ms, f.p99_ms, f.to_round_robin, f.to_projection
            )
        },
    )
}

/// One line per run: jobs measured, failures and the rig's timing.
fn rig_table(results: &[(Cell, Vec<Run>)]) -> String {
    let mut out = String::from(
        "\n**Rig** — dispatcher answer latency, how late arrivals fired, arrival rate achieved\n\n\
         | cell | strategy | jobs measured | 503 | failed | answer p50 / p99 ms | late p99 ms | rate |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (cell, runs) in results {
        for run in runs {
            let r = &run.rig;
            let _ = writeln!(
                out,
                "| T = {} s, {} | {} | {} of {} | {} | {} | {:.2} / {:.2} | {:.1} | {:.3} |",
                cell.period,
                cell.label(),
                run.dispatcher.label(),
                run.dispatched.jobs,
                r.sent,
                r.unavailable,
                r.failed,
                r.answer_p50_ms,
                r.answer_p99_ms,
                r.late_p99_ms,
                r.rate_ratio,
            );
        }
    }
    out
}

//! Reward throughput: the degeneration filter (full report and verdict only) and the full
//! caption reward given judge outputs, on 400 realistic captions (50–600 words, ~25 %
//! degenerate). Criterion reports elements/s = captions per second, on one thread; the
//! `*_bytes` runs time the same calls again and report bytes of caption text per second.
use std::hint::black_box;

use covip_rl::{DegenerationFilter, RetrievalConfig, caption_reward};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use covip_bench::reward_corpus::{self, CaptionRecord};

fn corpus() -> Vec<CaptionRecord> {
    reward_corpus::records(400, 0.25, 7)
        .iter()
        .map(CaptionRecord::from_value)
        .collect()
}

fn rewards(c: &mut Criterion) {
    let recs = corpus();
    let filter = DegenerationFilter::default();
    let cfg = RetrievalConfig::default();
    let mut g = c.benchmark_group("rewards");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("degeneration_report", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(filter.report(black_box(&r.caption)).unwrap());
            }
        })
    });
    g.bench_function("degeneration_verdict", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(filter.is_degenerate(black_box(&r.caption)).unwrap());
            }
        })
    });
    // The same calls per byte of caption text (criterion takes one throughput per run).
    let bytes: usize = recs.iter().map(|r| r.caption.len()).sum();
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("degeneration_report_bytes", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(filter.report(black_box(&r.caption)).unwrap());
            }
        })
    });
    g.bench_function("degeneration_verdict_bytes", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(filter.is_degenerate(black_box(&r.caption)).unwrap());
            }
        })
    });
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("caption_reward", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(
                    caption_reward(
                        &filter,
                        black_box(&r.caption),
                        &r.pos,
                        Some(&r.judge_pos[..]),
                        &r.neg,
                        Some(&r.judge_neg[..]),
                        &cfg,
                    )
                    .unwrap(),
                );
            }
        })
    });
    g.finish();
}

criterion_group!(benches, rewards);
criterion_main!(benches);

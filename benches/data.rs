//! covip-data throughput: context assembly (cosine top-k over a CLIP-sized bank) and reading a
//! training list.
use std::hint::black_box;

use covip_data::assembly::{AssemblyConfig, BankEntry, ConceptBank, assemble};
use covip_data::{Concept, ConceptKind, ImageRef, TaskKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;

fn bank(n: usize, dim: usize) -> ConceptBank {
    let mut state = 1u64;
    let embeddings = Array2::from_shape_fn((n, dim), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    });
    let entries = (0..n)
        .map(|i| BankEntry {
            concept: Concept {
                id: format!("c{i}"),
                image: ImageRef::path(format!("c{i}.png")),
                kind: ConceptKind::Human,
                name: format!("n{i}"),
            },
            dialogue: "User: hello".into(),
            qas: Vec::new(),
        })
        .collect();
    ConceptBank {
        entries,
        embeddings,
    }
}

fn assembly(c: &mut Criterion) {
    // The paper's bank: 188 concepts, CLIP ViT-L/14 image embeddings (768 dimensions).
    let b = bank(188, 768);
    let mut g = c.benchmark_group("assembly");
    g.throughput(Throughput::Elements(1));
    g.bench_function("4 positives, 188x768 bank", |bench| {
        let mut seed = 0;
        bench.iter(|| {
            seed += 1;
            let cfg = AssemblyConfig {
                negatives_per_positive: 2,
                seed,
            };
            black_box(
                assemble(
                    &b,
                    "s",
                    &[3, 50, 99, 150],
                    ImageRef::path("q.png"),
                    TaskKind::Caption,
                    cfg,
                )
                .unwrap(),
            )
        })
    });
    g.finish();
}

fn read_train(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/train.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Repeat the sample list to a realistic size (about 2.8K records, the training set's size).
    let big: String = std::iter::repeat_n(text.as_str(), 280).collect();
    let dir = std::env::temp_dir().join(format!("covip-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("train.jsonl");
    std::fs::write(&file, &big).unwrap();
    let mut g = c.benchmark_group("formats");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function("read + validate 2800-record training list", |bench| {
        bench.iter(|| black_box(covip_data::formats::read_train(&file).unwrap()))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, assembly, read_train);
criterion_main!(benches);

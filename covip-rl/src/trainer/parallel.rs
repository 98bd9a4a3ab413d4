//! Data parallelism over several local devices (GPUs), through burn-collective.
//!
//! One model replica and one optimiser per device (a *peer*). A step's rollouts are split by
//! completion: peer k samples choices `a_k..b_k` of every prompt's group, seeded as the single
//! device run seeds them (choice i from seed + i), so the completions are the same. Its rows
//! are split into contiguous shards; each peer scores its shard, scales its loss by its share
//! of the rows, and burn-collective's all-reduce sums the LoRA gradients, so every peer applies
//! the gradient of the whole batch's mean loss and the replicas stay equal (the released
//! trainer does the same with DDP on 4 GPUs). The judge runs on the calling thread while the
//! peers run their first scoring pass.
//!
//! burn-collective works on any backend: on the CPU several peers share the one device, which
//! is how `tests/trainer_parallel.rs` checks that two peers train as one device does.
use std::ops::Range;

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use covip_model::Qwen3VlMultimodal;
use covip_model::engine::{SeqRequest, generate_group};

use super::TrainError;
#[cfg(feature = "collective")]
pub use collective::{finish_peers, parallel_passes, register_peers};

/// One device's replica and optimiser.
pub struct Peer<B: AutodiffBackend, O> {
    pub device: B::Device,
    pub model: Qwen3VlMultimodal<B>,
    pub optim: O,
}

/// `0..n` cut into `parts` contiguous ranges whose sizes differ by at most one (the first
/// ones take the extra rows); empty ranges when `parts > n`.
pub fn shard_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let len = base + usize::from(k < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// `model` (on `devices[0]`) and a replica on each further device, each with an optimiser
/// from `make_optim(device)`.
pub fn replicate<B, O>(
    model: Qwen3VlMultimodal<B>,
    devices: &[B::Device],
    make_optim: impl Fn(&B::Device) -> Result<O, TrainError>,
) -> Result<Vec<Peer<B, O>>, TrainError>
where
    B: AutodiffBackend,
{
    let mut peers = Vec::with_capacity(devices.len());
    for d in devices.iter().skip(1) {
        peers.push(Peer {
            device: d.clone(),
            model: Qwen3VlMultimodal {
                model: model.model.clone().fork(d),
                visual: model.visual.clone().fork(d),
                image_token_id: model.image_token_id,
            },
            optim: make_optim(d)?,
        });
    }
    peers.insert(
        0,
        Peer {
            device: devices[0].clone(),
            optim: make_optim(&devices[0])?,
            model,
        },
    );
    Ok(peers)
}

/// Every prompt's group of `g` completions (their tokens), in (prompt, choice) order. Peer k
/// samples choices `shard_ranges(g, peers)[k]` of each prompt on its device, the peers in
/// parallel; `request(j, choices)` gives the request for those choices of prompt j (its seed
/// makes choice i draw from the group's seed + i, so the devices do not change the samples)
/// and the cache length.
pub fn sample_groups<B, O>(
    peers: &[Peer<B, O>],
    prompts: usize,
    g: usize,
    request: impl Fn(usize, Range<usize>) -> (SeqRequest, usize) + Sync,
) -> Result<Vec<Vec<u32>>, TrainError>
where
    B: AutodiffBackend,
    O: Sync,
{
    type Groups = Vec<Vec<Vec<u32>>>;
    let run = |peer: &Peer<B, O>, choices: Range<usize>| -> Result<Groups, TrainError> {
        if choices.is_empty() {
            return Ok(vec![Vec::new(); prompts]);
        }
        let inner = super::inner_multimodal(&peer.model);
        (0..prompts)
            .map(|j| {
                let (req, max_len) = request(j, choices.clone());
                let out = generate_group(&inner.model, Some(&inner), req, max_len, &peer.device)?;
                Ok(out.samples.into_iter().map(|s| s.tokens).collect())
            })
            .collect()
    };
    let per_peer: Vec<Groups> = if peers.len() == 1 {
        vec![run(&peers[0], 0..g)?]
    } else {
        let shards = shard_ranges(g, peers.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = peers
                .iter()
                .zip(shards)
                .map(|(p, c)| {
                    let run = &run;
                    s.spawn(move || run(p, c))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(TrainError::Config(
                            "data parallelism: a rollout thread panicked".into(),
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?
    };
    let mut per_peer: Vec<std::vec::IntoIter<Vec<Vec<u32>>>> =
        per_peer.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(prompts * g);
    for _ in 0..prompts {
        for p in per_peer.iter_mut() {
            out.extend(p.next().unwrap_or_default());
        }
    }
    Ok(out)
}

#[cfg(feature = "collective")]
mod collective {
    use std::ops::Range;
    use std::sync::mpsc;

    use burn::collective::{CollectiveConfig, PeerId, ReduceOperation};
    use burn::module::ParamId;
    use burn::optim::Optimizer;
    use burn::tensor::Tensor;
    use burn::tensor::backend::AutodiffBackend;
    use covip_model::Qwen3Vl;

    use super::super::update::{
        PassStats, RolloutBatch, Shard, UpdateSchedule, optimisation_passes,
    };
    use super::super::{TrainConfig, TrainError};
    use super::{Peer, shard_ranges};

    fn collective_err(what: &str, e: impl std::fmt::Debug) -> TrainError {
        TrainError::Config(format!("data parallelism: {what}: {e:?}"))
    }

    /// Registers the peers with burn-collective (a barrier: every peer registers from its own
    /// thread), after clearing what an earlier run in this process may have left. Called once per
    /// run, before the first [`parallel_passes`].
    pub fn register_peers<B: AutodiffBackend, O: Sync>(
        peers: &[Peer<B, O>],
    ) -> Result<(), TrainError> {
        burn::collective::reset_collective::<B::InnerBackend>();
        let n = peers.len();
        std::thread::scope(|s| {
            let handles: Vec<_> = peers
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let device = p.device.clone();
                    s.spawn(move || {
                        burn::collective::register::<B::InnerBackend>(
                            PeerId::from(k as u32),
                            device,
                            CollectiveConfig::default().with_num_devices(n),
                        )
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| collective_err("register", "a peer thread panicked"))?
                    .map_err(|e| collective_err("register", e))?;
            }
            Ok(())
        })
    }

    /// Closes the collective session (every peer, from its own thread).
    pub fn finish_peers<B: AutodiffBackend, O>(peers: &[Peer<B, O>]) -> Result<(), TrainError> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..peers.len())
                .map(|k| {
                    s.spawn(move || {
                        burn::collective::finish_collective::<B::InnerBackend>(k.into())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| collective_err("finish", "a peer thread panicked"))?
                    .map_err(|e| collective_err("finish", e))?;
            }
            Ok(())
        })
    }

    /// The peers back, and each pass's statistics.
    pub type PeersAndStats<B, O> = (Vec<Peer<B, O>>, Vec<PassStats>);

    /// The μ passes of one batch over the peers: each scores its shard of `batch` (the first pass
    /// runs while `advantages` computes the rows' advantages on this thread: the judge), then runs
    /// [`optimisation_passes`] with its gradients summed over the peers. `batch.advantages` is
    /// ignored (it is what `advantages` returns). Returns the peers and, per pass, the whole
    /// batch's statistics (row-weighted means; the gradient norm is the summed gradient's).
    #[allow(clippy::too_many_arguments)]
    pub fn parallel_passes<B, O>(
        peers: Vec<Peer<B, O>>,
        cfg: &TrainConfig,
        lora_ids: &[ParamId],
        batch: &RolloutBatch<'_>,
        ref_logp: Option<Tensor<B, 2>>,
        schedule: UpdateSchedule,
        dropout_seed: &(dyn Fn(usize) -> u64 + Sync),
        advantages: impl FnOnce() -> Result<Vec<f64>, TrainError>,
    ) -> Result<PeersAndStats<B, O>, TrainError>
    where
        B: AutodiffBackend,
        O: Optimizer<Qwen3Vl<B>, B> + Send,
    {
        let rows = batch.completions.len();
        let shards = shard_ranges(rows, peers.len());
        if shards.iter().any(|r| r.is_empty()) {
            return Err(TrainError::Config(format!(
                "data parallelism: {rows} completions per step cannot be shared by {} devices \
             (every device needs at least one; raise group-size or batch-size)",
                peers.len()
            )));
        }
        type PeerOut<B, O> = Result<(Peer<B, O>, Vec<PassStats>), TrainError>;
        std::thread::scope(|s| {
            let mut senders = Vec::with_capacity(peers.len());
            let mut handles = Vec::with_capacity(peers.len());
            for (k, (peer, range)) in peers.into_iter().zip(shards.clone()).enumerate() {
                let (tx, rx) = mpsc::channel::<Option<Vec<f64>>>();
                senders.push(tx);
                let ref_k = ref_logp.as_ref().map(|r| {
                    let width = batch.completions[range.clone()]
                        .iter()
                        .map(Vec::len)
                        .max()
                        .unwrap_or(0);
                    r.clone()
                        .slice([range.clone(), 0..width])
                        .to_device(&peer.device)
                });
                handles.push(s.spawn(move || -> PeerOut<B, O> {
                    let Peer {
                        device,
                        model,
                        mut optim,
                    } = peer;
                    let prompts = &batch.prompts[range.clone()];
                    let completions = &batch.completions[range.clone()];
                    let images = &batch.images[range.clone()];
                    B::seed(&device, dropout_seed(0));
                    let first = model.score_continuations(
                        prompts,
                        completions,
                        images,
                        batch.pad_id,
                        &device,
                    );
                    // The advantages, or None when the judge failed (the step is abandoned).
                    let adv = rx.recv().ok().flatten();
                    let (first, adv) = match (first, adv) {
                        (Ok(f), Some(a)) => (f, a),
                        (Err(e), _) => return Err(e.into()),
                        (_, None) => {
                            return Err(TrainError::Reward("the step's rewards failed".into()));
                        }
                    };
                    let shard_batch = RolloutBatch {
                        prompts,
                        completions,
                        images,
                        pad_id: batch.pad_id,
                        advantages: &adv[range.clone()],
                    };
                    let peer_id = PeerId::from(k as u32);
                    let mut reduce = |g: burn::optim::GradientsParams| {
                        g.all_reduce::<B::InnerBackend>(peer_id, ReduceOperation::Sum)
                            .map_err(|e| collective_err("all-reduce", e))
                    };
                    let (model, stats) = optimisation_passes(
                        model,
                        &mut optim,
                        cfg,
                        lora_ids,
                        &shard_batch,
                        ref_k,
                        schedule,
                        Some(first),
                        dropout_seed,
                        &mut |_, _, _| {},
                        Some(Shard {
                            total_rows: rows,
                            reduce: &mut reduce,
                        }),
                        &device,
                    )?;
                    Ok((
                        Peer {
                            device,
                            model,
                            optim,
                        },
                        stats,
                    ))
                }));
            }
            let adv = advantages();
            for tx in &senders {
                // A peer that already failed has dropped its receiver: nothing to tell it.
                let _ = tx.send(adv.as_ref().ok().cloned());
            }
            let mut peers = Vec::with_capacity(handles.len());
            let mut per_peer = Vec::with_capacity(handles.len());
            let mut first_err = None;
            for h in handles {
                match h.join() {
                    Ok(Ok((p, st))) => {
                        peers.push(p);
                        per_peer.push(st);
                    }
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert(collective_err("peer", "a peer thread panicked"));
                    }
                }
            }
            adv?;
            if let Some(e) = first_err {
                return Err(e);
            }
            Ok((peers, combine(&per_peer, &shards, rows)))
        })
    }

    /// Row-weighted means of the peers' statistics, pass by pass.
    fn combine(
        per_peer: &[Vec<PassStats>],
        shards: &[Range<usize>],
        rows: usize,
    ) -> Vec<PassStats> {
        let passes = per_peer.first().map_or(0, Vec::len);
        (0..passes)
            .map(|k| {
                let w = |i: usize| shards[i].len() as f64 / rows as f64;
                let mean = |f: &dyn Fn(&PassStats) -> f64| -> f64 {
                    per_peer
                        .iter()
                        .enumerate()
                        .map(|(i, p)| w(i) * f(&p[k]))
                        .sum()
                };
                let kl = per_peer
                    .iter()
                    .all(|p| p[k].kl.is_some())
                    .then(|| mean(&|s| s.kl.unwrap_or(0.0)));
                PassStats {
                    loss: mean(&|s| s.loss),
                    clip_fraction: mean(&|s| s.clip_fraction),
                    mean_ratio: mean(&|s| s.mean_ratio),
                    kl,
                    grad_norm: per_peer[0][k].grad_norm,
                    learning_rate: per_peer[0][k].learning_rate,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_and_balanced() {
        assert_eq!(shard_ranges(8, 2), vec![0..4, 4..8]);
        assert_eq!(shard_ranges(7, 3), vec![0..3, 3..5, 5..7]);
        assert_eq!(shard_ranges(4, 1), vec![0..4]);
        assert_eq!(shard_ranges(2, 3), vec![0..1, 1..2, 2..2]);
        for (n, p) in [(0, 2), (13, 4), (4, 4), (100, 7)] {
            let r = shard_ranges(n, p);
            assert_eq!(r.len(), p);
            assert_eq!(r.first().unwrap().start, 0);
            assert_eq!(r.last().unwrap().end, n);
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
            let lens: Vec<usize> = r.iter().map(|x| x.len()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
    }
}

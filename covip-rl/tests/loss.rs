//! Policy losses on the CPU backend: hand-worked values, ratio exactly 1, and gradients against
//! central finite differences on `Autodiff<Flex>` (f64 tensors).
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData};
use covip_data::rng::SeededRng;
use covip_rl::{
    Advantages, LossError, PolicyLossConfig, PolicyLossInput, PolicyLossKind, policy_loss,
};

type Ad = Autodiff<Flex>;

fn t2<B: burn::tensor::backend::Backend>(v: &[f64], b: usize, t: usize) -> Tensor<B, 2> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [b, t]),
        (&Default::default(), DType::F64),
    )
}

fn t1<B: burn::tensor::backend::Backend>(v: &[f64]) -> Tensor<B, 1> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [v.len()]),
        (&Default::default(), DType::F64),
    )
}

fn scalar<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().iter::<f64>().next().unwrap()
}

fn values<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn cfg(kind: PolicyLossKind, eps_low: f64, eps_high: f64, beta: f64) -> PolicyLossConfig {
    PolicyLossConfig {
        kind,
        epsilon_low: eps_low,
        epsilon_high: eps_high,
        beta,
        max_completion_len: None,
    }
}

const LOGP: [f64; 6] = [-1.0, -2.0, -3.0, -0.5, -1.0, 0.0];
const OLD: [f64; 6] = [-1.1, -2.0, -2.9, -0.5, -1.2, 0.0];
const MASK: [f64; 6] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0];

#[test]
fn gspo_hand_worked_value_and_gradient() {
    // Sequence 1: log-ratio (0.1 + 0 - 0.1)/3 = 0 -> s = 1. Sequence 2: (0 + 0.2)/2 -> s = e^0.1.
    let e01 = 0.1f64.exp();
    // ε = 0.2, A = [1, -1]: nothing clipped. L = (-1 + e^0.1) / 2.
    let logp = t2::<Ad>(&LOGP, 2, 3).require_grad();
    let out = policy_loss(
        &cfg(PolicyLossKind::Gspo, 0.2, 0.2, 0.0),
        PolicyLossInput {
            logp: logp.clone(),
            old_logp: Some(t2(&OLD, 2, 3)),
            ref_logp: None,
            mask: t2(&MASK, 2, 3),
            advantages: Advantages::PerSequence(t1(&[1.0, -1.0])),
        },
    )
    .unwrap();
    assert!((scalar(out.loss.clone()) - (-1.0 + e01) / 2.0).abs() < 1e-12);
    assert_eq!(out.stats.clip_fraction, 0.0);
    assert!((out.stats.mean_ratio - (1.0 + e01) / 2.0).abs() < 1e-12);
    assert_eq!(out.stats.kl, None);
    // dL/dlogp: seq 1: -A·s/len/B = -1/6; seq 2: +s/len/B = e^0.1/4 on its 2 tokens, 0 on padding.
    let g = values(logp.grad(&out.loss.backward()).unwrap());
    let want = [
        -1.0 / 6.0,
        -1.0 / 6.0,
        -1.0 / 6.0,
        e01 / 4.0,
        e01 / 4.0,
        0.0,
    ];
    for (g, w) in g.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }

    // Released ε (3e-4, 4e-4), A = [1, 1]: sequence 2 is clipped to 1.0004 and gets no gradient.
    let logp = t2::<Ad>(&LOGP, 2, 3).require_grad();
    let out = policy_loss(
        &PolicyLossConfig::gspo(),
        PolicyLossInput {
            logp: logp.clone(),
            old_logp: Some(t2(&OLD, 2, 3)),
            ref_logp: None,
            mask: t2(&MASK, 2, 3),
            advantages: Advantages::PerSequence(t1(&[1.0, 1.0])),
        },
    )
    .unwrap();
    assert!((scalar(out.loss.clone()) - (-1.0 - 1.0004) / 2.0).abs() < 1e-12);
    assert_eq!(out.stats.clip_fraction, 0.5);
    let g = values(logp.grad(&out.loss.backward()).unwrap());
    assert_eq!(&g[3..], &[0.0, 0.0, 0.0]);
    assert!((g[0] + 1.0 / 6.0).abs() < 1e-12);
}

#[test]
fn grpo_and_dr_grpo_hand_worked() {
    // Token ratios: e^0.1, 1, e^-0.1 | 1, e^0.2, (pad). A = [1, -1], ε = 0.2: none clipped.
    let r = [0.1f64.exp(), 1.0, (-0.1f64).exp(), 1.0, 0.2f64.exp()];
    let seq1 = -(r[0] + r[1] + r[2]) / 3.0;
    let seq2 = (r[3] + r[4]) / 2.0;
    for (kind, want) in [
        (PolicyLossKind::Grpo, (seq1 + seq2) / 2.0),
        // Dr.GRPO: Σ token losses / (B · T) = (-(r0+r1+r2) + r3 + r4) / 6.
        (
            PolicyLossKind::DrGrpo,
            (-(r[0] + r[1] + r[2]) + r[3] + r[4]) / 6.0,
        ),
    ] {
        let out = policy_loss::<Flex>(
            &cfg(kind, 0.2, 0.2, 0.0),
            PolicyLossInput {
                logp: t2(&LOGP, 2, 3),
                old_logp: Some(t2(&OLD, 2, 3)),
                ref_logp: None,
                mask: t2(&MASK, 2, 3),
                advantages: Advantages::PerSequence(t1(&[1.0, -1.0])),
            },
        )
        .unwrap();
        assert!((scalar(out.loss) - want).abs() < 1e-12, "{kind:?}");
        assert!((out.stats.mean_ratio - r.iter().sum::<f64>() / 5.0).abs() < 1e-12);
        // e^0.2 > 1.2 lies outside the range (the unclipped term still wins, A < 0): 1 of 5.
        assert!((out.stats.clip_fraction - 0.2).abs() < 1e-12);
    }
    // Dr.GRPO with a generation budget of 10 tokens divides by B · 10.
    let mut c = cfg(PolicyLossKind::DrGrpo, 0.2, 0.2, 0.0);
    c.max_completion_len = Some(10);
    let out = policy_loss::<Flex>(
        &c,
        PolicyLossInput {
            logp: t2(&LOGP, 2, 3),
            old_logp: Some(t2(&OLD, 2, 3)),
            ref_logp: None,
            mask: t2(&MASK, 2, 3),
            advantages: Advantages::PerSequence(t1(&[1.0, -1.0])),
        },
    )
    .unwrap();
    assert!((scalar(out.loss) - (-(r[0] + r[1] + r[2]) + r[3] + r[4]) / 20.0).abs() < 1e-12);
    // With ε = 0.05, tokens e^0.1, e^-0.1, e^0.2 are outside the range: 3 of 5.
    let out = policy_loss::<Flex>(
        &cfg(PolicyLossKind::Grpo, 0.05, 0.05, 0.0),
        PolicyLossInput {
            logp: t2(&LOGP, 2, 3),
            old_logp: Some(t2(&OLD, 2, 3)),
            ref_logp: None,
            mask: t2(&MASK, 2, 3),
            advantages: Advantages::PerSequence(t1(&[1.0, -1.0])),
        },
    )
    .unwrap();
    assert!((out.stats.clip_fraction - 0.6).abs() < 1e-12);
}

#[test]
fn kl_term_hand_worked() {
    // ref = logp + d with d = 0.5 on every real token: k3 = e^0.5 - 0.5 - 1 per token.
    let refp: Vec<f64> = LOGP.iter().map(|x| x + 0.5).collect();
    let k3 = 0.5f64.exp() - 1.5;
    let out = policy_loss::<Flex>(
        &cfg(PolicyLossKind::Gspo, 0.2, 0.2, 0.1),
        PolicyLossInput {
            logp: t2(&LOGP, 2, 3),
            old_logp: None,
            ref_logp: Some(t2(&refp, 2, 3)),
            mask: t2(&MASK, 2, 3),
            advantages: Advantages::PerSequence(t1(&[1.0, 3.0])),
        },
    )
    .unwrap();
    assert!((out.stats.kl.unwrap() - k3).abs() < 1e-12);
    // Ratios are 1: loss = -mean(A) + β·k3.
    assert!((scalar(out.loss) - (-2.0 + 0.1 * k3)).abs() < 1e-12);
}

#[test]
fn ratio_is_exactly_one_when_old_equals_current() {
    let mut rng = SeededRng::new(7);
    for kind in [
        PolicyLossKind::Gspo,
        PolicyLossKind::GspoToken,
        PolicyLossKind::Grpo,
        PolicyLossKind::DrGrpo,
    ] {
        for old_given in [false, true] {
            let (b, t) = (4, 7);
            let lp: Vec<f64> = (0..b * t).map(|_| -rng.uniform() * 5.0).collect();
            let adv: Vec<f64> = (0..b).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let mask: Vec<f64> = (0..b * t)
                .map(|i| if i % t < 3 + i / t { 1.0 } else { 0.0 })
                .collect();
            let c = cfg(kind, 3e-4, 4e-4, 0.0);
            let out = policy_loss::<Flex>(
                &c,
                PolicyLossInput {
                    logp: t2(&lp, b, t),
                    old_logp: old_given.then(|| t2(&lp, b, t)),
                    ref_logp: None,
                    mask: t2(&mask, b, t),
                    advantages: Advantages::PerSequence(t1(&adv)),
                },
            )
            .unwrap();
            assert_eq!(out.stats.mean_ratio, 1.0, "{kind:?}");
            assert_eq!(out.stats.clip_fraction, 0.0, "{kind:?}");
            if kind != PolicyLossKind::DrGrpo {
                let want = -adv.iter().sum::<f64>() / b as f64;
                assert!((scalar(out.loss) - want).abs() < 1e-12, "{kind:?}");
            }
        }
    }
}

#[derive(Clone)]
struct Case {
    b: usize,
    t: usize,
    logp: Vec<f64>,
    old: Vec<f64>,
    refp: Vec<f64>,
    mask: Vec<f64>,
    adv_seq: Vec<f64>,
    adv_tok: Vec<f64>,
}

fn case(rng: &mut SeededRng) -> Case {
    let (b, t) = (3, 5);
    let logp: Vec<f64> = (0..b * t).map(|_| -0.1 - rng.uniform() * 3.0).collect();
    let old: Vec<f64> = logp
        .iter()
        .map(|x| x + (rng.uniform() - 0.5) * 0.8)
        .collect();
    let refp: Vec<f64> = logp
        .iter()
        .map(|x| x + (rng.uniform() - 0.5) * 0.6)
        .collect();
    let lens = [5, 3, 4];
    let mask: Vec<f64> = (0..b * t)
        .map(|i| if i % t < lens[i / t] { 1.0 } else { 0.0 })
        .collect();
    let adv_seq = (0..b).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let adv_tok = (0..b * t).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    Case {
        b,
        t,
        logp,
        old,
        refp,
        mask,
        adv_seq,
        adv_tok,
    }
}

fn loss_value<B: burn::tensor::backend::Backend>(
    c: &Case,
    config: &PolicyLossConfig,
    logp: Tensor<B, 2>,
    per_token: bool,
) -> covip_rl::PolicyLoss<B> {
    policy_loss(
        config,
        PolicyLossInput {
            logp,
            old_logp: Some(t2(&c.old, c.b, c.t)),
            ref_logp: Some(t2(&c.refp, c.b, c.t)),
            mask: t2(&c.mask, c.b, c.t),
            advantages: if per_token {
                Advantages::PerToken(t2(&c.adv_tok, c.b, c.t))
            } else {
                Advantages::PerSequence(t1(&c.adv_seq))
            },
        },
    )
    .unwrap()
}

/// Whether any sequence or token ratio lies within `margin` of a clip boundary, where the loss
/// has a kink and finite differences are meaningless.
fn near_kink(c: &Case, config: &PolicyLossConfig, margin: f64) -> bool {
    let lo = 1.0 - config.epsilon_low;
    let hi = 1.0 + config.epsilon_high;
    let near = |r: f64| (r - lo).abs() < margin || (r - hi).abs() < margin;
    (0..c.b).any(|i| {
        let row = i * c.t..(i + 1) * c.t;
        let n: f64 = c.mask[row.clone()].iter().sum();
        let s: f64 = row
            .clone()
            .map(|j| c.mask[j] * (c.logp[j] - c.old[j]))
            .sum::<f64>()
            / n;
        near(s.exp())
            || row
                .filter(|&j| c.mask[j] > 0.0)
                .any(|j| near((c.logp[j] - c.old[j]).exp()))
    })
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = SeededRng::new(0x5eed);
    let h = 1e-6;
    let mut checked = 0;
    for kind in [
        PolicyLossKind::Gspo,
        PolicyLossKind::GspoToken,
        PolicyLossKind::Grpo,
        PolicyLossKind::DrGrpo,
    ] {
        for (eps, beta, per_token) in [
            (0.2, 0.0, false),
            (0.2, 0.05, false),
            (0.05, 0.1, false),
            (0.2, 0.05, true),
        ] {
            // GSPO takes no per-token advantages; GSPO-token's gradient with per-token advantages
            // is by design not the derivative of its value (see the test below).
            if per_token && matches!(kind, PolicyLossKind::Gspo | PolicyLossKind::GspoToken) {
                continue;
            }
            let config = cfg(kind, eps, eps, beta);
            let mut c = case(&mut rng);
            while near_kink(&c, &config, 1e-3) {
                c = case(&mut rng);
            }
            let logp = t2::<Ad>(&c.logp, c.b, c.t).require_grad();
            let out = loss_value(&c, &config, logp.clone(), per_token);
            let grad = values(logp.grad(&out.loss.backward()).unwrap());
            for j in 0..c.b * c.t {
                let mut plus = c.logp.clone();
                plus[j] += h;
                let mut minus = c.logp.clone();
                minus[j] -= h;
                let f = |v: &[f64]| {
                    scalar(loss_value::<Flex>(&c, &config, t2(v, c.b, c.t), per_token).loss)
                };
                let fd = (f(&plus) - f(&minus)) / (2.0 * h);
                assert!(
                    (grad[j] - fd).abs() < 1e-6,
                    "{kind:?} eps {eps} beta {beta} per_token {per_token} token {j}: autodiff {} vs fd {fd}",
                    grad[j]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 200);
}

#[test]
fn gspo_token_equals_gspo_with_sequence_advantages() {
    let mut rng = SeededRng::new(99);
    for _ in 0..5 {
        let c = case(&mut rng);
        for eps in [3e-4, 0.2] {
            let seq = cfg(PolicyLossKind::Gspo, eps, eps, 0.05);
            let tok = cfg(PolicyLossKind::GspoToken, eps, eps, 0.05);
            let a = t2::<Ad>(&c.logp, c.b, c.t).require_grad();
            let b = t2::<Ad>(&c.logp, c.b, c.t).require_grad();
            let la = loss_value(&c, &seq, a.clone(), false);
            let lb = loss_value(&c, &tok, b.clone(), false);
            assert!((scalar(la.loss.clone()) - scalar(lb.loss.clone())).abs() < 1e-12);
            let ga = values(a.grad(&la.loss.backward()).unwrap());
            let gb = values(b.grad(&lb.loss.backward()).unwrap());
            for (x, y) in ga.iter().zip(&gb) {
                assert!((x - y).abs() < 1e-12, "{x} vs {y}");
            }
        }
    }
}

/// With per-token advantages, GSPO-token's gradient is GRPO's with the old log-probs replaced
/// by `logp − log s_i`: every token ratio then equals s_i and flows only into its own token.
#[test]
fn gspo_token_per_token_gradient_is_the_stop_gradient_surrogate() {
    let mut rng = SeededRng::new(4242);
    for eps in [0.05, 0.2] {
        let c = case(&mut rng);
        let tok = cfg(PolicyLossKind::GspoToken, eps, eps, 0.05);
        let grpo = cfg(PolicyLossKind::Grpo, eps, eps, 0.05);
        let mut shifted = c.clone();
        for i in 0..c.b {
            let row = i * c.t..(i + 1) * c.t;
            let n: f64 = c.mask[row.clone()].iter().sum();
            let log_s: f64 = row
                .clone()
                .map(|j| c.mask[j] * (c.logp[j] - c.old[j]))
                .sum::<f64>()
                / n;
            for j in row {
                shifted.old[j] = c.logp[j] - log_s;
            }
        }
        let a = t2::<Ad>(&c.logp, c.b, c.t).require_grad();
        let b = t2::<Ad>(&c.logp, c.b, c.t).require_grad();
        let la = loss_value(&c, &tok, a.clone(), true);
        let lb = loss_value(&shifted, &grpo, b.clone(), true);
        assert!((scalar(la.loss.clone()) - scalar(lb.loss.clone())).abs() < 1e-12);
        let ga = values(a.grad(&la.loss.backward()).unwrap());
        let gb = values(b.grad(&lb.loss.backward()).unwrap());
        for (x, y) in ga.iter().zip(&gb) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let base = || PolicyLossInput::<Flex> {
        logp: t2(&LOGP, 2, 3),
        old_logp: None,
        ref_logp: None,
        mask: t2(&MASK, 2, 3),
        advantages: Advantages::PerSequence(t1(&[1.0, -1.0])),
    };
    let mut i = base();
    i.mask = t2(&[1.0; 3], 1, 3);
    assert_eq!(
        policy_loss(&PolicyLossConfig::gspo(), i).unwrap_err(),
        LossError::Shape {
            name: "mask",
            got: vec![1, 3],
            expected: vec![2, 3]
        }
    );
    let mut i = base();
    i.mask = t2(&[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], 2, 3);
    assert_eq!(
        policy_loss(&PolicyLossConfig::grpo(), i).unwrap_err(),
        LossError::EmptySequence(1)
    );
    let mut c = PolicyLossConfig::gspo();
    c.beta = 0.04;
    assert_eq!(
        policy_loss(&c, base()).unwrap_err(),
        LossError::MissingReference(0.04)
    );
    let mut i = base();
    i.advantages = Advantages::PerToken(t2(&LOGP, 2, 3));
    assert!(matches!(
        policy_loss(&PolicyLossConfig::gspo(), i).unwrap_err(),
        LossError::PerTokenAdvantages(PolicyLossKind::Gspo)
    ));
    let mut i = base();
    i.advantages = Advantages::PerSequence(t1(&[1.0]));
    assert!(
        policy_loss(&PolicyLossConfig::grpo(), i)
            .unwrap_err()
            .to_string()
            .contains("advantages has shape [1]")
    );
}

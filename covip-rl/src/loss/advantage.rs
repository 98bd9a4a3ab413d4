//! Group-relative advantages (SPEC §5).

use super::LossError;

/// The ε added to the group's standard deviation.
pub const GROUP_STD_EPS: f64 = 1e-4;

/// How rewards become advantages within a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageScale {
    /// (r − mean) / (std + 1e-4), std unbiased (divides by G − 1): GRPO and GSPO.
    GroupStd,
    /// r − mean, no division: Dr.GRPO.
    None,
}

/// Advantages for consecutive groups of `group_size` rewards (the G responses of one prompt
/// are adjacent).
///
/// ```
/// use covip_rl::{group_advantages, AdvantageScale};
/// let a = group_advantages(&[1.0, 0.0, 1.0, 0.0], 4, AdvantageScale::GroupStd).unwrap();
/// // mean 0.5, unbiased std = sqrt(1/3)
/// let z = 0.5 / ((1.0f64 / 3.0).sqrt() + 1e-4);
/// assert!((a[0] - z).abs() < 1e-12 && (a[1] + z).abs() < 1e-12);
/// let c = group_advantages(&[2.0, 0.0], 2, AdvantageScale::None).unwrap();
/// assert_eq!(c, [1.0, -1.0]);
/// ```
pub fn group_advantages(
    rewards: &[f64],
    group_size: usize,
    scale: AdvantageScale,
) -> Result<Vec<f64>, LossError> {
    if group_size == 0 {
        return Err(LossError::Advantages("group size is 0".into()));
    }
    if !rewards.len().is_multiple_of(group_size) {
        return Err(LossError::Advantages(format!(
            "{} rewards do not split into groups of {group_size}",
            rewards.len()
        )));
    }
    if scale == AdvantageScale::GroupStd && group_size < 2 {
        return Err(LossError::Advantages(
            "an unbiased standard deviation needs groups of at least 2".into(),
        ));
    }
    if let Some(i) = rewards.iter().position(|r| !r.is_finite()) {
        return Err(LossError::Advantages(format!(
            "reward {i} is not finite: {}",
            rewards[i]
        )));
    }
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(group_size) {
        let g = group.len() as f64;
        let mean = group.iter().sum::<f64>() / g;
        match scale {
            AdvantageScale::None => out.extend(group.iter().map(|r| r - mean)),
            AdvantageScale::GroupStd => {
                let var = group.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (g - 1.0);
                let denom = var.sqrt() + GROUP_STD_EPS;
                out.extend(group.iter().map(|r| (r - mean) / denom));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_groups() {
        // Group 1: [3, 1] mean 2, std sqrt(2); group 2: equal rewards give 0.
        let a = group_advantages(&[3.0, 1.0, 5.0, 5.0], 2, AdvantageScale::GroupStd).unwrap();
        let d = 2f64.sqrt() + 1e-4;
        assert!((a[0] - 1.0 / d).abs() < 1e-12);
        assert!((a[1] + 1.0 / d).abs() < 1e-12);
        assert_eq!(&a[2..], &[0.0, 0.0]);
        let c = group_advantages(&[3.0, 1.0, 5.0, 5.0], 2, AdvantageScale::None).unwrap();
        assert_eq!(c, [1.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(group_advantages(&[1.0, 2.0, 3.0], 2, AdvantageScale::None).is_err());
        assert!(group_advantages(&[1.0], 1, AdvantageScale::GroupStd).is_err());
        assert_eq!(
            group_advantages(&[1.0], 1, AdvantageScale::None).unwrap(),
            [0.0]
        );
        let e = group_advantages(&[1.0, f64::NAN], 2, AdvantageScale::None).unwrap_err();
        assert!(e.to_string().contains("reward 1"), "{e}");
    }
}

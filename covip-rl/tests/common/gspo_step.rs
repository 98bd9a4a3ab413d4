//! The PyTorch step-parity fixture (`tests/fixtures/gspo_step/`, made by
//! `scripts/make_gspo_step_fixture.py`), loaded for the tests that run its step.
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use covip_model::lora::{LoraConfig, load_peft_adapter};
use covip_model::processor::image::PixelPatches;
use covip_model::{LoadOptions, ModelBundle, Qwen3VlMultimodal, Weights};
use covip_rl::loss::{AdvantageScale, group_advantages};
use covip_rl::trainer::{LossName, RolloutBatch, TrainConfig};
use serde_json::Value;

pub type AB = Autodiff<Flex>;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixture() -> PathBuf {
    root().join("covip-rl/tests/fixtures/gspo_step")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The fixture's model (with PEFT's saved adapter), its rows and their advantages.
pub struct StepFixture {
    pub step: Value,
    pub model: Qwen3VlMultimodal<AB>,
    /// The adapter's configuration, as read from PEFT's `adapter_config.json`.
    pub lora: LoraConfig,
    /// The image prompt's patches, processed by covip-model.
    pub pixels: PixelPatches,
    pub no_images: PixelPatches,
    pub group_size: usize,
    pub row_prompts: Vec<Vec<u32>>,
    pub completions: Vec<Vec<u32>>,
    /// Ours, from the fixture's rewards (f64).
    pub advantages: Vec<f64>,
}

impl StepFixture {
    pub fn load() -> StepFixture {
        let dev = Default::default();
        let step: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture().join("step.json")).unwrap())
                .unwrap();
        let bundle = ModelBundle::<AB>::load(
            &root().join(step["model"].as_str().unwrap()),
            LoadOptions::default(),
            &dev,
        )
        .unwrap();
        let images = bundle.images;
        let mut model = match bundle.weights {
            Weights::Multimodal(m) => *m,
            Weights::Text(_) => panic!("loaded without the vision tower"),
        };
        let lora = load_peft_adapter(&mut model.model, &fixture().join("adapter")).unwrap();
        let image = root().join(step["image"].as_str().unwrap());
        let decoded = images
            .decode(
                &std::fs::read(&image).unwrap(),
                &image.display().to_string(),
            )
            .unwrap();
        let pixels = images.process(&[decoded]).unwrap();
        let no_images = images.process(&[]).unwrap();
        // The rows: prompt g's completions, g = 0 (text), 1 (image).
        let prompts: Vec<Vec<u32>> = step["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect();
        let completions: Vec<Vec<u32>> = step["completions"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect();
        let group_size = step["group_size"].as_u64().unwrap() as usize;
        let row_prompts = (0..completions.len())
            .map(|i| prompts[i / group_size].clone())
            .collect();
        let rewards: Vec<f64> = step["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let advantages = group_advantages(&rewards, group_size, AdvantageScale::GroupStd).unwrap();
        StepFixture {
            step,
            model,
            lora,
            pixels,
            no_images,
            group_size,
            row_prompts,
            completions,
            advantages,
        }
    }

    /// Each row's images: none for the first prompt's group, the image for the second's.
    pub fn row_images(&self) -> Vec<&PixelPatches> {
        (0..self.completions.len())
            .map(|i| {
                if i / self.group_size == 0 {
                    &self.no_images
                } else {
                    &self.pixels
                }
            })
            .collect()
    }

    /// The rows as a batch (`images` from [`StepFixture::row_images`]).
    pub fn batch<'a>(&'a self, images: &'a [&'a PixelPatches]) -> RolloutBatch<'a> {
        RolloutBatch {
            prompts: &self.row_prompts,
            completions: &self.completions,
            images,
            pad_id: 420,
            advantages: &self.advantages,
        }
    }

    /// The step's settings: GSPO, μ, ε, learning rate, clipping norm, the adapter's LoRA.
    pub fn config(&self) -> TrainConfig {
        let mut cfg = TrainConfig {
            mu: self.step["mu"].as_u64().unwrap() as usize,
            loss: LossName::Gspo,
            epsilon_low: self.step["epsilon_low"].as_f64(),
            epsilon_high: self.step["epsilon_high"].as_f64(),
            lora: self.lora.clone(),
            ..TrainConfig::default()
        };
        cfg.optimizer.learning_rate = self.step["learning_rate"].as_f64().unwrap();
        cfg.optimizer.max_grad_norm = self.step["max_grad_norm"].as_f64().unwrap();
        cfg
    }
}

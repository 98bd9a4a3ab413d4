//! The whole vision tower and its loader (`model.visual.*`).
use std::path::Path;

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::config::Qwen3VlConfig;
use crate::error::{ModelError, Result};
use crate::loader::{Checkpoint, WeightDtype};
use crate::nn::Linear;
use crate::tensor_names::{MergerTensors, TensorSpec, VisionTensors, WeightBias, name_shape_pairs};
use crate::vision::block::{LayerNorm, VisionAttention, VisionBlock, VisionMlp};
use crate::vision::config::VisionConfig;
use crate::vision::merger::PatchMerger;
use crate::vision::patch_embed::PatchEmbed;
use crate::vision::pos_embed::PosEmbed;
use crate::vision::rope2d;

pub use crate::tensor_names::VISION_PREFIX;

/// LayerNorm epsilon of every vision norm.
const LN_EPS: f64 = 1e-6;

#[derive(Module, Debug)]
pub struct VisionTower<B: Backend> {
    pub patch_embed: PatchEmbed<B>,
    pub pos_embed: PosEmbed<B>,
    pub blocks: Vec<VisionBlock<B>>,
    pub merger: PatchMerger<B>,
    /// One per `deepstack_visual_indexes` entry, in that order.
    pub deepstack_merger_list: Vec<PatchMerger<B>>,
    #[module(skip)]
    pub config: VisionConfig,
}

/// What the tower gives the text model.
#[derive(Debug, Clone)]
pub struct VisionOutput<B: Backend> {
    /// `[tokens, out_hidden]`, tokens = Σ t·h·w / merge², images in input order.
    pub embeds: Tensor<B, 2>,
    /// One `[tokens, out_hidden]` per DeepStack index, in block order (feature k is added to
    /// the output of text decoder layer k at image-token positions).
    pub deepstack: Vec<Tensor<B, 2>>,
}

/// Every tensor the tower needs, name (with `model.visual.`) → shape (the table
/// [`VisionTensors`] that the loader reads too).
pub fn expected_tensors(cfg: &VisionConfig) -> Vec<(String, Vec<usize>)> {
    name_shape_pairs(VisionTensors::new(cfg).list())
}

impl<B: Backend> VisionTower<B> {
    /// Loads the tower of the checkpoint folder `dir` (its `config.json` `vision_config`).
    pub fn from_dir(dir: &Path, dtype: WeightDtype, device: &B::Device) -> Result<Self> {
        let path = dir.join("config.json");
        let cfg = Qwen3VlConfig::from_file(&path)?;
        let origin = path.display().to_string();
        let v = cfg
            .vision_config
            .as_ref()
            .ok_or_else(|| ModelError::Config {
                path: origin.clone(),
                msg: "no vision_config".into(),
            })?;
        let vcfg = VisionConfig::from_value(v, &origin)?;
        Self::load(&Checkpoint::open(dir)?, &vcfg, dtype, device)
    }

    /// Fills the tower from `model.visual.*`. Missing, unexpected (under `model.visual.`) or
    /// mis-shaped tensors are all reported in one error; other tensors are left alone.
    pub fn load(
        ckpt: &Checkpoint,
        cfg: &VisionConfig,
        dtype: WeightDtype,
        device: &B::Device,
    ) -> Result<Self> {
        let names = VisionTensors::new(cfg);
        let others: Vec<String> = ckpt
            .names()
            .filter(|n| !n.starts_with(VISION_PREFIX))
            .map(str::to_string)
            .collect();
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        ckpt.check(&name_shape_pairs(names.list()), &others)?;
        let t1 = |s: &TensorSpec| ckpt.tensor::<B, 1>(&s.name, dtype, device);
        let t2 = |s: &TensorSpec| ckpt.tensor::<B, 2>(&s.name, dtype, device);
        // Every vision weight has a bias; the table says so (`WeightBias::new(.., true)`).
        let bias = |wb: &WeightBias| -> Result<Tensor<B, 1>> {
            let b = wb.bias.as_ref().ok_or_else(|| ModelError::Checkpoint {
                dir: ckpt.dir.display().to_string(),
                report: format!("  no bias in the table for {}", wb.weight.name),
            })?;
            t1(b)
        };
        let lin = |wb: &WeightBias| -> Result<Linear<B>> {
            Ok(Linear::new(t2(&wb.weight)?, Some(bias(wb)?)))
        };
        let ln = |wb: &WeightBias| -> Result<LayerNorm<B>> {
            Ok(LayerNorm::new(t1(&wb.weight)?, bias(wb)?, LN_EPS))
        };
        let unit = cfg.spatial_merge_size * cfg.spatial_merge_size;
        let merger = |m: &MergerTensors, post: bool| -> Result<PatchMerger<B>> {
            Ok(PatchMerger {
                norm: ln(&m.norm)?,
                linear_fc1: lin(&m.linear_fc1)?,
                linear_fc2: lin(&m.linear_fc2)?,
                use_postshuffle_norm: post,
                unit,
            })
        };
        let blocks = names
            .blocks
            .iter()
            .map(|b| {
                Ok(VisionBlock {
                    norm1: ln(&b.norm1)?,
                    norm2: ln(&b.norm2)?,
                    attn: VisionAttention {
                        qkv: lin(&b.qkv)?,
                        proj: lin(&b.proj)?,
                        num_heads: cfg.num_heads,
                    },
                    mlp: VisionMlp {
                        linear_fc1: lin(&b.linear_fc1)?,
                        linear_fc2: lin(&b.linear_fc2)?,
                        act: cfg.hidden_act,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch_embed: PatchEmbed::new(
                ckpt.tensor::<B, 5>(&names.patch_embed.weight.name, dtype, device)?,
                bias(&names.patch_embed)?,
            ),
            pos_embed: PosEmbed::new(t2(&names.pos_embed)?, cfg.spatial_merge_size),
            blocks,
            merger: merger(&names.merger, false)?,
            deepstack_merger_list: names
                .deepstack_merger_list
                .iter()
                .map(|m| merger(m, true))
                .collect::<Result<Vec<_>>>()?,
            config: cfg.clone(),
        })
    }

    /// `pixel_values`: `[patches, C·T·P·P]` as the image processor lays them out;
    /// `grid_thw`: per image `[t, h, w]` in patches. Attention stays within each frame.
    pub fn forward(
        &self,
        pixel_values: Tensor<B, 2>,
        grid_thw: &[[usize; 3]],
    ) -> Result<VisionOutput<B>> {
        let cfg = &self.config;
        let m = cfg.spatial_merge_size;
        let [n, dim] = pixel_values.dims();
        let total: usize = grid_thw.iter().map(|g| g[0] * g[1] * g[2]).sum();
        if dim != cfg.patch_dim() || n != total {
            return Err(ModelError::Input(format!(
                "pixel_values is [{n}, {dim}]; grid_thw {grid_thw:?} needs [{total}, {}]",
                cfg.patch_dim()
            )));
        }
        if let Some(g) = grid_thw
            .iter()
            .find(|g| !g[1].is_multiple_of(m) || !g[2].is_multiple_of(m) || g[0] == 0)
        {
            return Err(ModelError::Input(format!(
                "grid {g:?}: h and w must be multiples of the merge size {m}"
            )));
        }
        let w = self.patch_embed.proj.weight.val();
        let device = w.device();
        let x = self.patch_embed.forward(pixel_values.cast(w.dtype()));
        let x = x + self.pos_embed.forward(grid_thw);
        let (cos, sin) = rope2d::cos_sin::<B>(grid_thw, m, cfg.head_dim(), cfg.rope_theta, &device);
        let segments: Vec<usize> = grid_thw
            .iter()
            .flat_map(|g| std::iter::repeat_n(g[1] * g[2], g[0]))
            .collect();
        let mut x = x;
        let mut deepstack = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x, cos.clone(), sin.clone(), &segments);
            if let Some(k) = cfg.deepstack_visual_indexes.iter().position(|&d| d == i) {
                deepstack.push(self.deepstack_merger_list[k].forward(x.clone()));
            }
        }
        Ok(VisionOutput {
            embeds: self.merger.forward(x),
            deepstack,
        })
    }
}

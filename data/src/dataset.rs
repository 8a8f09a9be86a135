//! An in-memory labelled image set.

use autograd::{fmt_shape, Error, Result, Tensor};

/// Images `[N, C, H, W]` (f32) with one class label each.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `[N, C, H, W]`; raw pixel values 0..=255 as read from disk until normalised.
    pub images: Tensor<f32>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Checks that images and labels agree.
    #[track_caller]
    pub fn new(images: Tensor<f32>, labels: Vec<usize>, classes: usize) -> Result<Self> {
        if images.ndim() != 4 || images.shape()[0] != labels.len() {
            return Err(Error::shape(
                "dataset",
                format!(
                    "images {} must be [N, C, H, W] with N = {} labels",
                    fmt_shape(images.shape()),
                    labels.len()
                ),
            ));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(Error::invalid(
                "dataset",
                format!("label {l} of example {i} is out of range for {classes} classes"),
            ));
        }
        Ok(Dataset {
            images,
            labels,
            classes,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Examples `start..end` (copied).
    #[track_caller]
    pub fn slice(&self, start: usize, end: usize) -> Result<Dataset> {
        let images = self.images.slice_batch(start, end)?;
        Ok(Dataset {
            images,
            labels: self.labels[start..end].to_vec(),
            classes: self.classes,
        })
    }

    /// The examples at `idx` (copied), e.g. a mini-batch of a shuffled order.
    #[track_caller]
    pub fn gather(&self, idx: &[usize]) -> Result<Dataset> {
        let images = self.images.index_batch(idx)?;
        Ok(Dataset {
            images,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        })
    }

    /// Concatenation of several sets with the same image shape and classes.
    #[track_caller]
    pub fn concat(parts: &[Dataset]) -> Result<Dataset> {
        let images: Vec<Tensor<f32>> = parts.iter().map(|p| p.images.clone()).collect();
        let images = Tensor::cat_batch(&images)?;
        let classes = parts.iter().map(|p| p.classes).max().unwrap_or(0);
        Ok(Dataset {
            images,
            labels: parts
                .iter()
                .flat_map(|p| p.labels.iter().copied())
                .collect(),
            classes,
        })
    }
}

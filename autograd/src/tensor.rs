//! The n-dimensional tensor: row-major, contiguous, shared storage.
//!
//! A `Tensor` is a shape plus an `Arc<Vec<T>>`; cloning is O(1) and the tape
//! saves tensors by cloning them. Writes go through [`Tensor::data_mut`],
//! which copies only when the storage is shared (copy-on-write).

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use smallvec::SmallVec;

use crate::error::{fmt_shape, Error, Result};
use crate::Element;

/// A tensor shape: up to 4 dims inline, more on the heap.
pub type Shape = SmallVec<[usize; 4]>;

/// Number of elements of a shape (1 for a scalar), or `None` on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of a shape.
pub fn strides_of(shape: &[usize]) -> Shape {
    let mut s: Shape = SmallVec::from_elem(1, shape.len());
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The NumPy/PyTorch broadcast of two shapes: align trailing dims; each pair
/// must be equal or contain a 1. `None` when they do not broadcast.
///
/// ```
/// use autograd::tensor::broadcast_shapes;
/// assert_eq!(broadcast_shapes(&[8, 1, 5], &[3, 1]).unwrap().as_slice(), &[8, 3, 5]);
/// assert!(broadcast_shapes(&[2, 3], &[4]).is_none());
/// ```
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = SmallVec::from_elem(0, n);
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return None;
        };
    }
    Some(out)
}

/// Strides that read a tensor of shape `src` as if it had the (broadcast)
/// shape `dst`: broadcast dims get stride 0.
pub fn broadcast_strides(src: &[usize], dst: &[usize]) -> Shape {
    let s = strides_of(src);
    let off = dst.len() - src.len();
    let mut out: Shape = SmallVec::from_elem(0, dst.len());
    for i in 0..src.len() {
        out[off + i] = if src[i] == 1 && dst[off + i] != 1 {
            0
        } else {
            s[i]
        };
    }
    out
}

/// Visits every multi-index of `shape` in row-major order, calling
/// `f(out_linear, [offset in each strided input])`.
pub fn for_each_strided<const K: usize>(
    shape: &[usize],
    strides: [&[usize]; K],
    mut f: impl FnMut(usize, [usize; K]),
) {
    let numel: usize = shape.iter().product();
    if numel == 0 {
        return;
    }
    let nd = shape.len();
    let mut idx: Shape = SmallVec::from_elem(0, nd);
    let mut offs = [0usize; K];
    for lin in 0..numel {
        f(lin, offs);
        // increment the multi-index, updating offsets incrementally
        let mut d = nd;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            for k in 0..K {
                offs[k] += strides[k][d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for k in 0..K {
                offs[k] -= strides[k][d] * shape[d];
            }
            idx[d] = 0;
        }
    }
}

/// An n-dimensional array of `T` in row-major order.
///
/// ```
/// use autograd::Tensor;
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.at(&[1, 2]).unwrap(), 6.0);
/// let tt = t.transpose(0, 1).unwrap();
/// assert_eq!(tt.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
pub struct Tensor<T> {
    shape: Shape,
    data: Arc<Storage<T>>,
    id: TensorId,
}

/// The identity of one tensor object, as PyTorch's tensor identity: a
/// process-wide counter that is never reused. Every constructor and every
/// `clone()` makes a new one (a clone shares the elements copy-on-write, but
/// is a tensor of its own, as `tensor.clone()` in PyTorch); moving a tensor
/// and changing its elements in place keep it.
///
/// This is how a parameter is found again after backward
/// ([`crate::Grads::of`]): a cloned layer is a new set of parameters with
/// its own gradients, never silently tied to the original.
///
/// ```
/// use autograd::Tensor;
/// let a = Tensor::<f32>::zeros(&[2]);
/// let mut b = a.clone();
/// assert_ne!(a.id(), b.id()); // a clone is another tensor...
/// assert!(a.shares_storage(&b)); // ...that shares the elements until written
/// let before = b.id();
/// b.data_mut()[0] = 1.0; // copy-on-write: a is unchanged, b keeps its identity
/// assert_eq!((a.data()[0], b.id()), (0.0, before));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    /// An identity never handed out before in this process.
    fn fresh() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl<T> Clone for Tensor<T> {
    fn clone(&self) -> Self {
        Tensor {
            shape: self.shape.clone(),
            data: Arc::clone(&self.data),
            id: TensorId::fresh(),
        }
    }
}

/// The elements of a tensor (shared copy-on-write between clones).
#[derive(Clone)]
struct Storage<T> {
    buf: Vec<T>,
}

impl<T> Storage<T> {
    fn new(buf: Vec<T>) -> Arc<Self> {
        Arc::new(Storage { buf })
    }
}

impl<T> std::ops::Deref for Storage<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.buf
    }
}

impl<T: Element> Tensor<T> {
    /// A tensor from a vector and a shape; errors when the sizes differ.
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let loc = Location::caller();
        match checked_numel(shape) {
            Some(n) if n == data.len() => Ok(Tensor {
                shape: Shape::from_slice(shape),
                data: Storage::new(data),
                id: TensorId::fresh(),
            }),
            Some(n) => Err(Error::shape(
                "from_vec",
                format!(
                    "shape {} needs {} elements, got {}",
                    fmt_shape(shape),
                    n,
                    data.len()
                ),
            )
            .at(loc)),
            None => Err(Error::shape(
                "from_vec",
                format!("shape {} overflows usize", fmt_shape(shape)),
            )
            .at(loc)),
        }
    }

    /// Internal constructor for kernels that computed a buffer of the right size.
    pub(crate) fn from_parts(shape: Shape, data: Vec<T>) -> Self {
        debug_assert_eq!(checked_numel(&shape), Some(data.len()));
        Tensor {
            shape,
            data: Storage::new(data),
            id: TensorId::fresh(),
        }
    }

    /// Builds a tensor from a buffer whose length must equal the shape's size.
    /// Meant for kernels that computed the shape themselves; panics otherwise.
    pub fn from_shape_vec(shape: Shape, data: Vec<T>) -> Self {
        assert_eq!(
            checked_numel(&shape),
            Some(data.len()),
            "from_shape_vec: size mismatch"
        );
        Self::from_parts(shape, data)
    }

    /// A 0-d tensor holding `v`.
    pub fn scalar(v: T) -> Self {
        Self::from_parts(Shape::new(), vec![v])
    }

    /// A tensor of `shape` filled with `v`.
    ///
    /// Panics if the shape's size overflows `usize`.
    pub fn full(shape: &[usize], v: T) -> Self {
        let n = checked_numel(shape).expect("Tensor::full: shape size overflows usize");
        Self::from_parts(Shape::from_slice(shape), vec![v; n])
    }

    /// Zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// Ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::ONE)
    }

    /// Samples from N(mean, std^2) with the given RNG (pass a seeded
    /// `rand_chacha::ChaCha8Rng` for reproducible runs).
    ///
    /// ```
    /// use autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let t = Tensor::<f32>::randn(&[1000], 0.0, 1.0, &mut rng);
    /// assert!(t.mean_all().abs() < 0.1);
    /// ```
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], mean: f64, std: f64, rng: &mut R) -> Self {
        let n = checked_numel(shape).expect("Tensor::randn: shape size overflows usize");
        let data = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                T::from_f64(mean + std * z)
            })
            .collect();
        Self::from_parts(Shape::from_slice(shape), data)
    }

    /// Samples uniformly from [lo, hi).
    pub fn rand_uniform<R: Rng + ?Sized>(shape: &[usize], lo: f64, hi: f64, rng: &mut R) -> Self {
        let n = checked_numel(shape).expect("Tensor::rand_uniform: shape size overflows usize");
        let data = (0..n)
            .map(|_| T::from_f64(lo + (hi - lo) * rng.random::<f64>()))
            .collect();
        Self::from_parts(Shape::from_slice(shape), data)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
    /// The elements in row-major order.
    pub fn data(&self) -> &[T] {
        &self.data
    }
    /// Mutable elements; copies the storage first if it is shared.
    pub fn data_mut(&mut self) -> &mut [T] {
        Arc::make_mut(&mut self.data).buf.as_mut_slice()
    }
    /// The elements as a vector (no copy when unshared).
    pub fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.data)
            .map(|s| s.buf)
            .unwrap_or_else(|a| a.buf.clone())
    }
    /// This tensor's identity (see [`TensorId`]): new for every tensor and
    /// every clone, kept by moves and in-place writes.
    pub fn id(&self) -> TensorId {
        self.id
    }
    /// Whether two tensors share storage (for tests of copy-free paths).
    pub fn shares_storage(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The single element of a one-element tensor.
    #[track_caller]
    pub fn item(&self) -> Result<T> {
        if self.data.len() == 1 {
            Ok(self.data[0])
        } else {
            Err(Error::shape(
                "item",
                format!(
                    "tensor of shape {} has {} elements, not 1",
                    fmt_shape(&self.shape),
                    self.numel()
                ),
            ))
        }
    }

    /// The element at a multi-index.
    #[track_caller]
    pub fn at(&self, idx: &[usize]) -> Result<T> {
        if idx.len() != self.ndim() || idx.iter().zip(self.shape.iter()).any(|(i, d)| i >= d) {
            return Err(Error::shape(
                "at",
                format!(
                    "index {:?} out of bounds for shape {}",
                    idx,
                    fmt_shape(&self.shape)
                ),
            ));
        }
        let s = strides_of(&self.shape);
        Ok(self.data[idx.iter().zip(s.iter()).map(|(i, s)| i * s).sum::<usize>()])
    }

    /// Same data, new shape with the same number of elements (no copy), as
    /// `torch.reshape`: one dim may be `-1` (inferred). The shape is any
    /// [`IntoShape`] (`&[2, 3]`, `[n, -1]`, `x.shape()`, `&vec`), the same
    /// argument that `VarOps::reshape` takes.
    ///
    /// ```
    /// use autograd::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(t.reshape(&[6, 4])?.shape(), &[6, 4]);
    /// assert_eq!(t.reshape([2, -1])?.shape(), &[2, 12]);
    /// assert!(t.reshape(&[5, 5]).unwrap_err().to_string().contains("reshape"));
    /// # Ok::<(), autograd::Error>(())
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: impl IntoShape) -> Result<Self> {
        let dims = shape.dims()?;
        let s = infer_shape(self.numel(), &dims, &self.shape)?;
        Ok(Tensor {
            shape: s,
            data: self.data.clone(),
            id: TensorId::fresh(),
        })
    }

    /// [`Tensor::reshape`] with a signed shape (kept for older callers;
    /// `reshape` takes `-1` itself).
    #[track_caller]
    pub fn reshape_infer(&self, shape: &[isize]) -> Result<Self> {
        self.reshape(shape)
    }

    /// Reorders the axes: output axis i is input axis `perm[i]` (copies).
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Result<Self> {
        let nd = self.ndim();
        let mut seen = vec![false; nd];
        if perm.len() != nd
            || perm
                .iter()
                .any(|&p| p >= nd || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::shape(
                "permute",
                format!(
                    "{:?} is not a permutation of the {} axes of {}",
                    perm,
                    nd,
                    fmt_shape(&self.shape)
                ),
            ));
        }
        let out_shape: Shape = perm.iter().map(|&p| self.shape[p]).collect();
        if perm == [1, 0] {
            // 2-D transpose in 32 x 32 tiles (cache friendly)
            let (r, c) = (self.shape[0], self.shape[1]);
            let mut out = vec![T::ZERO; r * c];
            for i0 in (0..r).step_by(32) {
                for j0 in (0..c).step_by(32) {
                    for i in i0..(i0 + 32).min(r) {
                        for j in j0..(j0 + 32).min(c) {
                            out[j * r + i] = self.data[i * c + j];
                        }
                    }
                }
            }
            return Ok(Self::from_parts(out_shape, out));
        }
        let in_strides = strides_of(&self.shape);
        let src_strides: Shape = perm.iter().map(|&p| in_strides[p]).collect();
        let mut out = Vec::with_capacity(self.numel());
        let d = &self.data;
        for_each_strided(&out_shape, [&src_strides], |_, [o]| out.push(d[o]));
        Ok(Self::from_parts(out_shape, out))
    }

    /// Swaps two axes (copies).
    #[track_caller]
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        let nd = self.ndim();
        if a >= nd || b >= nd {
            return Err(Error::shape(
                "transpose",
                format!(
                    "axes ({a}, {b}) out of range for {}",
                    fmt_shape(&self.shape)
                ),
            ));
        }
        let mut perm: Vec<usize> = (0..nd).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Rows `start..end` along axis 0 (the batch axis), copied.
    ///
    /// ```
    /// use autograd::Tensor;
    /// let t = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[3, 2]).unwrap();
    /// assert_eq!(t.slice_batch(1, 3).unwrap().data(), &[2.0, 3.0, 4.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn slice_batch(&self, start: usize, end: usize) -> Result<Self> {
        if self.ndim() == 0 || start > end || end > self.shape[0] {
            return Err(Error::shape(
                "slice_batch",
                format!(
                    "range {start}..{end} out of bounds for shape {}",
                    fmt_shape(&self.shape)
                ),
            ));
        }
        let row: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        Ok(Self::from_parts(
            shape,
            self.data[start * row..end * row].to_vec(),
        ))
    }

    /// Gathers rows of axis 0 by index (for mini-batches of a shuffled set).
    #[track_caller]
    pub fn index_batch(&self, idx: &[usize]) -> Result<Self> {
        if self.ndim() == 0 {
            return Err(Error::shape("index_batch", "cannot index a 0-d tensor"));
        }
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.shape[0]) {
            return Err(Error::shape(
                "index_batch",
                format!(
                    "index {bad} out of bounds for shape {}",
                    fmt_shape(&self.shape)
                ),
            ));
        }
        let row: usize = self.shape[1..].iter().product();
        let mut data = Vec::with_capacity(idx.len() * row);
        for &i in idx {
            data.extend_from_slice(&self.data[i * row..(i + 1) * row]);
        }
        let mut shape = self.shape.clone();
        shape[0] = idx.len();
        Ok(Self::from_parts(shape, data))
    }

    /// Concatenates tensors along axis 0.
    #[track_caller]
    pub fn cat_batch(parts: &[Tensor<T>]) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::shape("cat_batch", "no tensors to concatenate"));
        };
        if first.ndim() == 0 {
            return Err(Error::shape("cat_batch", "cannot concatenate 0-d tensors"));
        }
        let mut n = 0;
        for p in parts {
            if p.ndim() != first.ndim() || p.shape[1..] != first.shape[1..] {
                return Err(Error::shape(
                    "cat_batch",
                    format!(
                        "shape {} does not match {} outside axis 0",
                        fmt_shape(&p.shape),
                        fmt_shape(&first.shape)
                    ),
                ));
            }
            n += p.shape[0];
        }
        let mut data = Vec::with_capacity(n * first.shape[1..].iter().product::<usize>());
        for p in parts {
            data.extend_from_slice(p.data());
        }
        let mut shape = first.shape.clone();
        shape[0] = n;
        Ok(Self::from_parts(shape, data))
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        Self::from_parts(
            self.shape.clone(),
            self.data.iter().map(|&v| f(v)).collect(),
        )
    }

    /// Elementwise `f(a, b)` with broadcasting.
    #[track_caller]
    pub fn zip_broadcast(
        &self,
        other: &Self,
        op: &'static str,
        f: impl Fn(T, T) -> T,
    ) -> Result<Self> {
        if self.shape == other.shape {
            let data = self
                .data
                .iter()
                .zip(other.data.iter())
                .map(|(&a, &b)| f(a, b))
                .collect();
            return Ok(Self::from_parts(self.shape.clone(), data));
        }
        // fast path: one operand's shape is the other's trailing dims (a bias
        // [C] on [N, C], a plane on a batch): zip row by row
        if other.ndim() <= self.ndim()
            && self.shape[self.ndim() - other.ndim()..] == other.shape[..]
            && other.numel() > 0
        {
            let mut out = Vec::with_capacity(self.numel());
            for row in self.data.chunks(other.numel()) {
                out.extend(row.iter().zip(other.data.iter()).map(|(&a, &b)| f(a, b)));
            }
            return Ok(Self::from_parts(self.shape.clone(), out));
        }
        if self.ndim() <= other.ndim()
            && other.shape[other.ndim() - self.ndim()..] == self.shape[..]
            && self.numel() > 0
        {
            let mut out = Vec::with_capacity(other.numel());
            for row in other.data.chunks(self.numel()) {
                out.extend(self.data.iter().zip(row.iter()).map(|(&a, &b)| f(a, b)));
            }
            return Ok(Self::from_parts(other.shape.clone(), out));
        }
        let Some(out_shape) = broadcast_shapes(&self.shape, &other.shape) else {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} do not broadcast",
                    fmt_shape(&self.shape),
                    fmt_shape(&other.shape)
                ),
            ));
        };
        let sa = broadcast_strides(&self.shape, &out_shape);
        let sb = broadcast_strides(&other.shape, &out_shape);
        let n: usize = out_shape.iter().product();
        let mut out = Vec::with_capacity(n);
        let (a, b) = (&self.data, &other.data);
        for_each_strided(&out_shape, [&sa, &sb], |_, [i, j]| out.push(f(a[i], b[j])));
        Ok(Self::from_parts(out_shape, out))
    }

    /// Sums a broadcast result back to `shape` (the backward of broadcasting).
    /// `shape` must broadcast to `self.shape()`.
    pub fn sum_to(&self, shape: &[usize]) -> Self {
        if self.shape.as_slice() == shape {
            return self.clone();
        }
        let n = checked_numel(shape).unwrap_or(0);
        // fast path: `shape` is this tensor's trailing dims: add up the rows
        if shape.len() <= self.ndim() && self.shape[self.ndim() - shape.len()..] == *shape && n > 0
        {
            let mut out = vec![T::ZERO; n];
            for row in self.data.chunks(n) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
            return Self::from_parts(Shape::from_slice(shape), out);
        }
        let mut out = vec![T::ZERO; n];
        let st = broadcast_strides(shape, &self.shape);
        let d = &self.data;
        for_each_strided(&self.shape, [&st], |lin, [o]| out[o] += d[lin]);
        Self::from_parts(Shape::from_slice(shape), out)
    }

    /// In-place `self += other` (same shape; panics otherwise: internal use).
    pub fn add_assign(&mut self, other: &Self) {
        assert_eq!(self.shape, other.shape, "add_assign: shape mismatch");
        for (a, &b) in self.data_mut().iter_mut().zip(other.data.iter()) {
            *a += b;
        }
    }

    /// Sum of all elements (accumulated in f64).
    pub fn sum_all(&self) -> f64 {
        self.data.iter().map(|v| v.to_f64()).sum()
    }
    /// Mean of all elements (NaN for an empty tensor).
    pub fn mean_all(&self) -> f64 {
        self.sum_all() / self.numel() as f64
    }
    /// Standard deviation of all elements; `unbiased` divides by n-1 as
    /// Torch's `std` does by default.
    pub fn std_all(&self, unbiased: bool) -> f64 {
        let n = self.numel() as f64;
        let m = self.mean_all();
        let ss: f64 = self.data.iter().map(|v| (v.to_f64() - m).powi(2)).sum();
        (ss / if unbiased { n - 1.0 } else { n }).sqrt()
    }
    /// Euclidean norm of all elements.
    pub fn norm(&self) -> f64 {
        self.data
            .iter()
            .map(|v| v.to_f64().powi(2))
            .sum::<f64>()
            .sqrt()
    }
    /// Whether every element is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }

    /// Converts the element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor::from_parts(
            self.shape.clone(),
            self.data.iter().map(|v| U::from_f64(v.to_f64())).collect(),
        )
    }

    /// Same shape and every |a - b| <= atol + rtol |b|.
    pub fn allclose(&self, other: &Self, rtol: f64, atol: f64) -> bool {
        self.shape == other.shape
            && self.data.iter().zip(other.data.iter()).all(|(a, b)| {
                let (a, b) = (a.to_f64(), b.to_f64());
                (a - b).abs() <= atol + rtol * b.abs()
            })
    }
}

/// A shape argument for `reshape`, the same for `Tensor` and `Var`:
/// unsigned slices, arrays and vectors (`&[usize]`, `[usize; N]`,
/// `&Vec<usize>`, a tensor's `shape()`), or signed ones (`&[isize]`,
/// `[i32; N]`, integer literals such as `&[2, -1]`) in which one dim may be
/// `-1`, inferred from the number of elements as in PyTorch.
///
/// ```
/// use autograd::IntoShape;
/// assert_eq!([2, -1].dims()?.as_slice(), &[2, -1]);
/// assert_eq!((&vec![3usize, 4]).dims()?.as_slice(), &[3, 4]);
/// assert!([usize::MAX].dims().is_err());
/// # Ok::<(), autograd::Error>(())
/// ```
pub trait IntoShape {
    /// The dims, `-1` for the one to infer. Errors if an unsigned dim does
    /// not fit in `isize`.
    fn dims(&self) -> Result<SmallVec<[isize; 6]>>;
}

fn signed_dims<D: Copy + TryInto<isize> + fmt::Debug>(ds: &[D]) -> Result<SmallVec<[isize; 6]>> {
    ds.iter()
        .map(|&d| {
            d.try_into().map_err(|_| {
                Error::shape(
                    "reshape",
                    format!("dim {d:?} of {ds:?} does not fit in isize"),
                )
            })
        })
        .collect()
}

macro_rules! into_shape {
    ($($t:ty),*) => {$(
        impl IntoShape for &[$t] {
            #[track_caller]
            fn dims(&self) -> Result<SmallVec<[isize; 6]>> { signed_dims(self) }
        }
        impl<const N: usize> IntoShape for [$t; N] {
            #[track_caller]
            fn dims(&self) -> Result<SmallVec<[isize; 6]>> { signed_dims(self) }
        }
        impl<const N: usize> IntoShape for &[$t; N] {
            #[track_caller]
            fn dims(&self) -> Result<SmallVec<[isize; 6]>> { signed_dims(*self) }
        }
        impl IntoShape for Vec<$t> {
            #[track_caller]
            fn dims(&self) -> Result<SmallVec<[isize; 6]>> { signed_dims(self) }
        }
        impl IntoShape for &Vec<$t> {
            #[track_caller]
            fn dims(&self) -> Result<SmallVec<[isize; 6]>> { signed_dims(self) }
        }
    )*};
}
into_shape!(usize, isize, i32, i64);

impl IntoShape for &Shape {
    #[track_caller]
    fn dims(&self) -> Result<SmallVec<[isize; 6]>> {
        signed_dims(self)
    }
}

/// Resolves a PyTorch-style shape with at most one `-1`.
#[track_caller]
pub fn infer_shape(numel: usize, shape: &[isize], from: &[usize]) -> Result<Shape> {
    let loc = Location::caller();
    let bad = || {
        Error::shape(
            "reshape",
            format!(
                "cannot reshape {} ({} elements) to {:?}",
                fmt_shape(from),
                numel,
                shape
            ),
        )
        .at(loc)
    };
    let mut known = 1usize;
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer.replace(i).is_some() {
                return Err(bad());
            }
        } else if d < 0 {
            return Err(bad());
        } else {
            known = known.checked_mul(d as usize).ok_or_else(bad)?;
        }
    }
    let mut out: Shape = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(bad());
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(bad());
    }
    Ok(out)
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Prints like Torch7: the last two dims as a matrix, then the type and size.
/// Tensors of more than 1,000 elements are summarised as PyTorch does: the
/// first and last 3 rows, columns and planes, with `...` between.
///
/// ```
/// use autograd::Tensor;
/// let t = Tensor::<f32>::zeros(&[100, 100]);
/// let s = t.to_string();
/// assert!(s.lines().count() < 10 && s.lines().all(|l| l.len() < 80));
/// assert!(s.contains("...") && s.ends_with("[Tensor<f32> of size 100x100]"));
/// ```
impl<T: Element> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PyTorch's print options: summarise past 1,000 elements, keeping
        // 3 edge items on each side of every dimension
        const THRESHOLD: usize = 1000;
        const EDGE: usize = 3;
        let nd = self.ndim();
        let cols = if nd == 0 { 1 } else { self.shape[nd - 1] };
        let rows = if nd < 2 { 1 } else { self.shape[nd - 2] };
        let plane = rows * cols;
        let planes = self.numel().checked_div(plane).unwrap_or(0);
        let summarise = self.numel() > THRESHOLD;
        // the indices shown along a dimension of length n, None for "..."
        let pick = |n: usize| -> Vec<Option<usize>> {
            if summarise && n > 2 * EDGE {
                (0..EDGE)
                    .map(Some)
                    .chain([None])
                    .chain((n - EDGE..n).map(Some))
                    .collect()
            } else {
                (0..n).map(Some).collect()
            }
        };
        let fmt_row = |r: &[T]| -> String {
            pick(r.len())
                .iter()
                .map(|j| match j {
                    Some(j) => format!("{:8.4}", r[*j].to_f64()),
                    None => format!("{:>8}", "..."),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        for p in pick(planes) {
            let Some(p) = p else {
                writeln!(f, "...")?;
                continue;
            };
            if nd > 2 {
                let mut idx = Vec::new();
                let mut rem = p;
                for &d in self.shape[..nd - 2].iter().rev() {
                    idx.push(rem % d);
                    rem /= d;
                }
                idx.reverse();
                let s: Vec<String> = idx.iter().map(|i| (i + 1).to_string()).collect();
                writeln!(f, "({},.,.) =", s.join(","))?;
            }
            let chunk = &self.data[p * plane..(p + 1) * plane];
            for r in pick(rows) {
                match r {
                    Some(r) => writeln!(f, "{}", fmt_row(&chunk[r * cols..(r + 1) * cols]))?,
                    None => writeln!(f, "{:>8}", "...")?,
                }
            }
        }
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(
            f,
            "[Tensor<{}> of size {}]",
            T::NAME,
            if dims.is_empty() {
                "scalar".into()
            } else {
                dims.join("x")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_sum_to_roundtrip() {
        let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3, 1]).unwrap();
        let b = Tensor::from_vec(vec![10.0f64, 20.0], &[2]).unwrap();
        let c = a.zip_broadcast(&b, "add", |x, y| x + y).unwrap();
        assert_eq!(c.shape(), &[3, 2]);
        assert_eq!(c.data(), &[11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
        assert_eq!(c.sum_to(&[2]).data(), &[36.0, 66.0]);
        assert_eq!(c.sum_to(&[3, 1]).data(), &[32.0, 34.0, 36.0]);
        assert_eq!(c.sum_to(&[]).data(), &[102.0]);
    }

    #[test]
    fn permute_3d() {
        let t = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4]).unwrap();
        let p = t.permute(&[2, 0, 1]).unwrap();
        assert_eq!(p.shape(), &[4, 2, 3]);
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    assert_eq!(p.at(&[k, i, j]).unwrap(), t.at(&[i, j, k]).unwrap());
                }
            }
        }
        assert!(t.permute(&[0, 0, 1]).is_err());
    }

    #[test]
    fn reshape_infer_and_errors() {
        let t = Tensor::<f32>::zeros(&[2, 3, 4]);
        assert_eq!(t.reshape_infer(&[-1, 4]).unwrap().shape(), &[6, 4]);
        let line = line!() + 1;
        let e = t.reshape([5, 5]).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot reshape [2, 3, 4] (24 elements) to [5, 5]"),
            "{e}"
        );
        // the exact line of the call above, not just this file (the
        // library's own code is in this file too)
        let loc = e.location().expect("location");
        assert_eq!((loc.file(), loc.line()), (file!(), line), "{e}");
        assert!(t.reshape_infer(&[-1, -1]).is_err());
        assert!(t.reshape_infer(&[-1, 5]).is_err());
    }

    #[test]
    fn std_matches_torch_unbiased() {
        let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[4]).unwrap();
        assert!((t.std_all(true) - 1.2909944487358056).abs() < 1e-12);
        assert!((t.std_all(false) - 1.118033988749895).abs() < 1e-12);
    }
}
#[cfg(test)]
mod print_tests {
    use crate::Tensor;

    #[test]
    fn small_tensors_print_whole_and_large_ones_are_summarised() {
        let small = Tensor::<f32>::from_vec((0..6).map(|i| i as f32).collect(), &[2, 3]).unwrap();
        assert_eq!(
            small.to_string(),
            "  0.0000   1.0000   2.0000\n  3.0000   4.0000   5.0000\n[Tensor<f32> of size 2x3]"
        );
        // 1,000 elements: still whole (PyTorch's threshold is "more than")
        let edge = Tensor::<f32>::zeros(&[10, 100]);
        assert!(!edge.to_string().contains("..."));
        let long = Tensor::<f32>::from_vec((0..5000).map(|i| i as f32).collect(), &[5000]).unwrap();
        let s = long.to_string();
        assert!(
            s.starts_with("  0.0000   1.0000   2.0000      ... 4997.0000"),
            "{s}"
        );
        assert_eq!(s.lines().count(), 2);
        // 4-D: first and last 3 of the 16 planes, 7 lines each
        let t = Tensor::<f32>::zeros(&[2, 8, 8, 8]);
        let s = t.to_string();
        assert_eq!(s.matches(",.,.) =").count(), 6, "{s}");
        assert!(s.contains("(1,1,.,.) =") && s.contains("(2,8,.,.) ="));
        assert_eq!(s.lines().count(), 6 * 8 + 1 + 1);
    }
}

//! CPU kernels shared by several ops: parallel GEMM and (dilated) im2col/col2im.

pub mod conv_packed;
pub mod im2col;
pub mod par_gemm;
pub mod winograd;

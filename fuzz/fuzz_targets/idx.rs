//! IDX reader (raw or gzip) on arbitrary bytes: an error or an array whose
//! size matches its header, never a panic or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(idx) = data::parse_idx(bytes, std::path::Path::new("fuzz.idx")) {
        assert_eq!(idx.dims.iter().product::<usize>(), idx.data.len());
    }
});

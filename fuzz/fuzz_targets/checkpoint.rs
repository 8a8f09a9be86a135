//! Checkpoint loader on arbitrary bytes, then into a small model: an error
//! or a model whose tensors all have the model's shapes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nn::Module;
use rand::SeedableRng;

fuzz_target!(|bytes: &[u8]| {
    let path = std::path::Path::new("fuzz.safetensors");
    if let Ok(ck) = nn::checkpoint::parse_tensors(bytes, path) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut m = nn::Linear::<f32>::new(3, 2, nn::Init::Small, &mut rng);
        if nn::checkpoint::apply(path, &ck, &mut m, &[]).is_ok() {
            assert_eq!(
                m.param_names(),
                vec![
                    ("weight".to_string(), vec![2, 3]),
                    ("bias".to_string(), vec![2])
                ]
            );
        }
    }
});

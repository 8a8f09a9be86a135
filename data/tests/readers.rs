//! Readers on small files the tests write themselves, including truncated,
//! oversized and foreign files; normalisation and batching.

use std::io::Write;
use std::path::PathBuf;

use autograd::{ErrorKind, Tensor};
use data::{Augment, Batches, Normalizer};

fn cifar_bytes(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        v.push(l);
        v.extend((0..3072).map(|p| ((p + i * 7) % 256) as u8));
    }
    v
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn cifar_reads_records_in_channel_planes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "data_batch_1.bin", &cifar_bytes(&[3, 9, 0]));
    let ds = data::read_cifar10(&p).unwrap();
    assert_eq!(ds.images.shape(), &[3, 3, 32, 32]);
    assert_eq!(ds.labels, vec![3, 9, 0]);
    // record 1, green plane (offset 1024), pixel (0, 5): byte (1024 + 5 + 7) % 256
    assert_eq!(
        ds.images.at(&[1, 1, 0, 5]).unwrap(),
        ((1024 + 5 + 7) % 256) as f32
    );
    let two = data::load_cifar10(dir.path(), &["data_batch_1.bin", "data_batch_1.bin"]).unwrap();
    assert_eq!(two.len(), 6);
}

#[test]
fn cifar_truncated_foreign_and_bad_labels_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = cifar_bytes(&[1, 2]);
    bytes.truncate(3073 + 100);
    let p = write(&dir, "short.bin", &bytes);
    let e = data::read_cifar10(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let msg = e.to_string();
    assert!(
        msg.contains("short.bin")
            && msg.contains("not a multiple of the 3073-byte")
            && msg.contains("truncated"),
        "{msg}"
    );

    let p = write(&dir, "labels.bin", &cifar_bytes(&[1, 10]));
    let msg = data::read_cifar10(&p).unwrap_err().to_string();
    assert!(
        msg.contains("labels.bin") && msg.contains("record 1 has label 10"),
        "{msg}"
    );

    let p = write(&dir, "empty.bin", &[]);
    assert!(data::read_cifar10(&p)
        .unwrap_err()
        .to_string()
        .contains("empty"));

    let missing = dir.path().join("nope.bin");
    let msg = data::read_cifar10(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("nope.bin") && msg.contains("cannot read"),
        "{msg}"
    );

    let msg = data::read_cifar10(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("is a folder"), "{msg}");
}

/// The CIFAR reader had no size cap: `/dev/zero` as a batch file was read
/// until memory ran out.
#[test]
fn cifar_reader_refuses_files_over_its_size_cap() {
    // a sparse regular file just over the cap: refused by its size, unread
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.bin");
    std::fs::File::create(&p)
        .unwrap()
        .set_len(data::cifar::MAX_BYTES + 1)
        .unwrap();
    let msg = data::read_cifar10(&p).unwrap_err().to_string();
    assert!(msg.contains("huge.bin") && msg.contains("limit"), "{msg}");
    // an endless device: refused once it has given the cap
    if std::path::Path::new("/dev/zero").exists() {
        let msg = data::read_cifar10("/dev/zero").unwrap_err().to_string();
        assert!(msg.contains("/dev/zero") && msg.contains("limit"), "{msg}");
    }
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_raw_and_gzip_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
    write(
        &dir,
        "train-images-idx3-ubyte.gz",
        &gzip(&idx_bytes(&[2, 3, 4], &pixels)),
    );
    write(&dir, "train-labels-idx1-ubyte", &idx_bytes(&[2], &[7, 1]));
    let ds = data::load_mnist_like(dir.path(), "train").unwrap();
    assert_eq!(ds.images.shape(), &[2, 1, 3, 4]);
    assert_eq!(ds.labels, vec![7, 1]);
    assert_eq!(ds.images.at(&[1, 0, 2, 3]).unwrap(), 23.0);
}

#[test]
fn idx_bad_magic_truncated_oversized_and_huge_headers() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic.idx",
            vec![1, 2, 8, 1, 0, 0, 0, 1, 5],
            "bad magic number",
        ),
        (
            "type.idx",
            vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 5],
            "element type 0x0d",
        ),
        ("dims.idx", vec![0, 0, 8, 9], "9 dimensions"),
        (
            "head.idx",
            vec![0, 0, 8, 3, 0, 0],
            "truncated: file ends inside dimension 0",
        ),
        (
            "short.idx",
            idx_bytes(&[2, 2, 2], &[1, 2, 3]),
            "truncated: header [2, 2, 2] declares 8 bytes of data, found 3",
        ),
        ("long.idx", idx_bytes(&[2], &[1, 2, 3]), "oversized"),
        (
            "huge.idx",
            idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[]),
            "exceed",
        ),
        ("short.gz", gzip(&idx_bytes(&[4], &[1])), "truncated"),
    ];
    for (name, bytes, want) in cases {
        let p = write(&dir, name, &bytes);
        let e = data::read_idx(&p).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(name) && msg.contains(want), "{name}: {msg}");
    }
    // pair mismatches
    let im = write(&dir, "im", &idx_bytes(&[2, 1, 1], &[0, 0]));
    let lb = write(&dir, "lb", &idx_bytes(&[3], &[0, 0, 0]));
    assert!(data::read_idx_pair(&im, &lb)
        .unwrap_err()
        .to_string()
        .contains("3 labels for 2 images"));
    let lb = write(&dir, "lb2", &idx_bytes(&[2], &[0, 12]));
    assert!(data::read_idx_pair(&im, &lb)
        .unwrap_err()
        .to_string()
        .contains("label 12 at position 1"));
}

#[test]
fn normalisation_fits_on_train_and_applies_to_test() {
    // 3 images, 2 channels, 1x2 pixels
    let train = Tensor::from_vec(
        vec![0., 10., 1., 1., 2., 20., 1., 3., 4., 30., 1., 5.],
        &[3, 2, 1, 2],
    )
    .unwrap();
    let px = Normalizer::per_pixel(&train).unwrap();
    assert_eq!(px.mean.data(), &[2.0, 20.0, 1.0, 3.0]);
    assert_eq!(px.std.data(), &[2.0, 10.0, 1.0, 2.0]); // unbiased; zero std replaced by 1
    let z = px.apply(&train).unwrap();
    assert_eq!(z.data()[..4], [-1.0, -1.0, 0.0, -1.0]);
    let ch = Normalizer::per_channel(&train).unwrap();
    assert_eq!(ch.mean.shape(), &[2, 1, 1]);
    assert!((ch.mean.data()[0] - 11.0).abs() < 1e-6);
    let test = Tensor::from_vec(vec![2.0f32; 4], &[1, 2, 1, 2]).unwrap();
    assert_eq!(px.apply(&test).unwrap().data(), &[0.0, -1.8, 1.0, -0.5]);
    let wrong = Tensor::<f32>::zeros(&[1, 3, 1, 2]);
    assert!(px
        .apply(&wrong)
        .unwrap_err()
        .to_string()
        .contains("normalize: input [1, 3, 1, 2] does not match statistics [2, 1, 2]"));
    assert!(Normalizer::per_pixel(&Tensor::zeros(&[0, 1, 2, 2])).is_err());
}

#[test]
fn batches_cover_every_example_once_and_are_reproducible() {
    let ds = data::Dataset::new(
        Tensor::from_vec((0..20 * 4).map(|v| v as f32).collect(), &[20, 1, 2, 2]).unwrap(),
        (0..20).map(|i| i % 10).collect(),
        10,
    )
    .unwrap();
    let collect = |seed, epoch| -> Vec<f32> {
        Batches::new(&ds, 6, Some(seed), epoch, None)
            .flat_map(|b| {
                b.unwrap()
                    .images
                    .data()
                    .iter()
                    .step_by(4)
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let a = collect(1, 0);
    let mut sorted = a.clone();
    sorted.sort_by(|x, y| x.partial_cmp(y).unwrap());
    assert_eq!(sorted, (0..20).map(|i| (i * 4) as f32).collect::<Vec<_>>());
    assert_eq!(a, collect(1, 0));
    assert_ne!(a, collect(1, 1));
    assert_ne!(a, collect(2, 0));
}

#[test]
fn augmentation_crops_with_zero_padding_and_flips() {
    let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let mut seen_flip = false;
    let mut seen_shift = false;
    for _ in 0..50 {
        let y = Augment {
            crop_padding: 1,
            hflip: true,
        }
        .apply(&x, &mut rng)
        .unwrap();
        let d = y.data();
        // every output pixel is either 0 (padding) or an input value, and the
        // multiset of non-zero values is a contiguous crop
        assert!(d.iter().all(|&v| (0.0..=9.0).contains(&v)));
        if d == [3., 2., 1., 6., 5., 4., 9., 8., 7.] {
            seen_flip = true;
        }
        if d.contains(&0.0) {
            seen_shift = true;
        }
    }
    assert!(seen_flip && seen_shift);
}

/// `Batches` silently turned a batch size of 0 into 1 (`fashion_mnist
/// --batch 0` trained with batch 1 and ended with loss inf).
#[test]
fn batch_size_zero_is_an_error_not_batch_one() {
    let ds = data::Dataset::new(
        autograd::Tensor::zeros(&[5, 1, 2, 2]),
        vec![0, 1, 0, 1, 0],
        2,
    )
    .unwrap();
    let mut it = data::Batches::new(&ds, 0, Some(1), 0, None);
    let e = it.next().unwrap().unwrap_err().to_string();
    assert!(e.contains("batch size 0"), "{e}");
    assert!(it.next().is_none(), "one error, then nothing");
}

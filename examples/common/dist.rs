//! `--distributed`: the MPI world, when the examples are built with the
//! `distributed` feature and started by `mpirun`.

use std::sync::atomic::{AtomicBool, Ordering};

use train::dist::Collective;

static LEAD: AtomicBool = AtomicBool::new(true);

/// Whether this process prints and writes: rank 0, or the only process.
pub fn is_lead() -> bool {
    LEAD.load(Ordering::Relaxed)
}

/// The flags of a distributed run.
#[derive(clap::Args, Debug, Clone)]
pub struct DistArgs {
    /// Run on MPI, one process per rank, under `mpirun -np P` (build with
    /// `--features distributed`)
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed: seconds one rank waits for the others in a
    /// collective before it stops with an error (a rank died or hangs)
    #[arg(long, default_value_t = 60, requires = "distributed",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub dist_timeout: u64,
}

/// `None` without `--distributed`; otherwise the MPI world, or an error
/// saying how to build with MPI.
pub fn world(args: &DistArgs) -> Result<Option<Box<dyn Collective>>, String> {
    if !args.distributed {
        return Ok(None);
    }
    #[cfg(feature = "distributed")]
    {
        let w = train::mpi::MpiWorld::init(std::time::Duration::from_secs(args.dist_timeout))
            .map_err(|e| e.to_string())?;
        LEAD.store(w.rank() == 0, Ordering::Relaxed);
        Ok(Some(Box::new(w)))
    }
    #[cfg(not(feature = "distributed"))]
    {
        Err(
            "--distributed: this program was built without MPI; build it with \
             `cargo build --release --features distributed --examples` and start it with \
             `mpirun -np 2 target/release/examples/NAME --distributed ...` \
             (README: \"More than one machine\")"
                .into(),
        )
    }
}

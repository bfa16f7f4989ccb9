//! Starting and stopping plugin processes for real (feature `process`): `sh`, `python3` and
//! `sleep` children, their environment, working directory, resource limits, Landlock sandbox,
//! group stop and parent-death signal.

mod environment;
mod limits;
mod manifest;
mod pdeathsig;
mod sandbox;
mod stop;
mod support;

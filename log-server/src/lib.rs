//! Cairn's log server: sequencing, git storage and the tlog-tiles HTTP API.
//!
//! Built so far: [`storage`], the commit-per-batch store behind the sequencer.

#![warn(missing_docs)]

pub mod storage;

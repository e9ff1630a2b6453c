//! Cairn's log server: sequencing, git storage and the tlog-tiles HTTP API.
//!
//! Not built yet (issue 3). The crate exists so the workspace layout is final.

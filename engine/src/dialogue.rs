//! Dialogue policy (being written).

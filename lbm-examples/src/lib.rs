//! Example programs live in `examples/` and `src/bin/`.

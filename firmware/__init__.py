"""wattcast's Cortex-M4F firmware: the project's own C int8 runtime, cross-compiled and run in QEMU (mps2-an386)."""

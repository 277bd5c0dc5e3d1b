"""Speed benchmarks (`make bench`): results go to BENCHMARKS.md with the machine, the date and medians."""

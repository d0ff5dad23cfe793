"""Speed benchmarks: time and memory of the operators, solvers, nets and data generation."""

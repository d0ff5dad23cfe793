"""The KTC2023 water tank's adapter (Kuopio Tomography Challenge 2023): what its description
(``invtools/devices/ktc2023.toml``) cannot say in data, in one package."""

"""Archive operators. Importing this package is cheap: the operators live in `.archive`."""

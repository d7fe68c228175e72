"""EE-559 mini-project 1 layout: ``Miniproject_1.model.Model`` backed by noise2noise."""

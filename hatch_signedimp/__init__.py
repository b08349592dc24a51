"""Hatch build hook that signs every wheel with a signedimp manifest."""

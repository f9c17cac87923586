"""The resource types: resource groups, galleries, gallery applications and their versions."""

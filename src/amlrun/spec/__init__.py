"""Reading AzureML v2 YAML into typed models, with positions for every error."""

// In progress (issue 5): geometric verification.

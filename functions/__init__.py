"""One blueprint module per background job family."""

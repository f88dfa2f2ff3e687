"""The pages, one module per area; ``terminflow.web.urls`` maps them."""

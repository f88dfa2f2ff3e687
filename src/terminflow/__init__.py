"""terminflow: self-hostable marketing automation with a first-class eTermin integration."""

__version__ = "0.1.0"

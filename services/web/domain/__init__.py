"""Pure view-model code of the web app: standard library only, time comes in as an argument."""

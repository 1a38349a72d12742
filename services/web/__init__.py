"""The staff web app (issue 20): a backend-for-frontend that renders pages from intake's and
assignment's staff APIs with the signed-in user's token and holds nothing but sessions."""

# The tutorial's run.py (its layout lists it; its text is not shown).
from app import create_app

app = create_app()

if __name__ == "__main__":
    app.run()

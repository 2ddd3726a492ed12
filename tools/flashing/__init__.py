"""The image tool's steps (tools/flash.py): build, write, set up, update."""

"""comfy"""

"""Pydantic models of HubSpot's association requests and replies, and of our XCom summary.

Import from the submodules (`models.associations`, `models.responses`...).
"""

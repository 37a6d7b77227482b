"""A plugin whose import fails, as a vendor's does when its SDK is not installed."""

import vendor_sdk_that_is_not_installed  # noqa: F401

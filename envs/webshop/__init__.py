"""WebShop: a simulated shop (search, results, item pages, Buy Now) with WebShop's own reward."""

from envs.webshop.env import WebShopEnv

__all__ = ["WebShopEnv"]

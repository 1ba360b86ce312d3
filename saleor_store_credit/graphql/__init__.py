"""The plugin's own GraphQL API (graphene 2, Saleor's conventions), served at
/plugins/global/saleor-store-credit/graphql/. Importing this package needs Saleor."""
